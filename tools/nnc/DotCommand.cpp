/// `nnc dot M.ir [--passes=a,b | --pipeline=train|infer] [-o OUT.dot]`: the
/// graph after those passes as Graphviz DOT, written by Boost.Graph.
///
/// Each op is a box labelled with its name and op, its result type and its
/// source line; forward ops are blue, backward ones (gradient ops and all
/// that follows the first of them: the optimizer's update) orange; fused
/// ops (`fused_*`) are 3-D boxes with a bold border and a darker fill.
/// Declarations are ellipses (params green); outputs have a double border;
/// a dashed edge leads from an update's value to its param or state.
#include "ir/GraphAdaptor.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "passes/Pipelines.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/OutputFile.h"

#include <boost/graph/graphviz.hpp>

#include <sstream>

namespace nnc::cli {

namespace {

/// A DOT string literal's contents: quotes and backslashes escaped, "\n"
/// for a line break.
std::string escape(const std::string &text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

class DotWriter {
public:
  DotWriter(const Graph &g, const AdaptedGraph &a) : g_(g), a_(a) {
    firstBackward_ = g.nodes.size();
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].info().has(kGradientOp)) {
        firstBackward_ = i;
        break;
      }
    isOutput_.assign(g.values.size(), false);
    for (const OutputRef &o : g.outputs)
      isOutput_[static_cast<size_t>(o.value)] = true;
    if (g.minimize)
      isOutput_[static_cast<size_t>(g.minimize->loss)] = true;
  }

  void vertex(std::ostream &os, size_t v) const {
    const DataflowVertex &d = a_.graph[v];
    const Value &val = g_.value(d.value);
    std::string attrs;
    if (d.node < 0) {
      std::string label =
          std::string(valueKindName(val.kind)) + " " + val.name + "\n" + g_.typeString(d.value);
      const char *fill = val.kind == ValueKind::Param   ? "#d9f2d0"
                         : val.kind == ValueKind::State ? "#e6e6e6"
                                                        : "#ffffff";
      attrs = "label=\"" + escape(label) + "\", shape=ellipse, style=filled, fillcolor=\"" + fill +
              "\"";
    } else {
      const Node &n = g_.node(d.node);
      bool backward = static_cast<size_t>(d.node) >= firstBackward_;
      bool fused = std::string_view(n.info().name).starts_with("fused_");
      std::string head = val.name.empty() ? "" : val.name + " = ";
      head += n.info().name;
      std::string numbers;
      for (ValueId o : n.operands)
        if (g_.value(o).kind == ValueKind::Immediate)
          numbers += (numbers.empty() ? "" : ", ") + formatNumber(g_.value(o).immediate());
      if (!numbers.empty())
        head += " (" + numbers + ")";
      std::string label = head + "\n" + g_.typeString(n.result);
      if (n.loc.known())
        label += "\n" + (n.loc.file ? n.loc.file->name() : std::string("line")) + ":" +
                 std::to_string(n.loc.line);
      const char *fill =
          fused ? (backward ? "#ffb366" : "#80aaff") : (backward ? "#ffe0c2" : "#dbe9ff");
      attrs = "label=\"" + escape(label) + "\", shape=" + (fused ? "box3d" : "box") +
              ", style=\"filled" + (fused ? ",bold" : "") + "\", fillcolor=\"" + fill +
              "\", class=\"" + (fused ? "fused " : "") + (backward ? "backward" : "forward") + "\"";
    }
    if (isOutput_[static_cast<size_t>(d.value)])
      attrs += ", peripheries=2";
    os << "[" << attrs << "]";
  }

  void edge(std::ostream &os, DataflowGraph::edge_descriptor e) const {
    if (a_.graph[e].update)
      os << "[style=dashed, constraint=false, label=\"<-\"]";
  }

private:
  const Graph &g_;
  const AdaptedGraph &a_;
  size_t firstBackward_;
  std::vector<bool> isOutput_;
};

} // namespace

// GCC 12 reports Boost's edge iterator (a boost::optional inside
// write_graphviz, inlined here) as maybe uninitialized: a known false alarm.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
int dotCommand(const Args &args) {
  auto cl = CommandLine::parse(args, {{"passes", true}, {"pipeline", true}, {"o", true}});
  if (!cl)
    return report(cl.diags());
  if (cl->positional.size() != 1)
    return fail("usage: nnc dot M.ir [--passes=p1,p2,...] [--pipeline=train|infer] [-o OUT.dot]");
  Result<Graph> g = loadModelFile(cl->positional[0]);
  if (!g)
    return report(g.diags());
  if (Diagnostics problems = verifyGraph(*g); problems.hasErrors())
    return report(problems);

  std::vector<std::string> passes;
  std::string pipeline = cl->get("pipeline");
  if (pipeline == "train") {
    passes = trainPipeline();
  } else if (pipeline == "infer") {
    passes = inferPipeline();
    g->minimize.reset();
  } else if (!pipeline.empty()) {
    return fail("--pipeline must be 'train' or 'infer', got '" + pipeline + "'");
  }
  if (cl->has("passes")) {
    auto parsed = parsePipeline(cl->get("passes"));
    if (!parsed)
      return report(parsed.diags());
    passes = *parsed;
  }
  PassContext ctx;
  Status ran = runPipeline(*g, passes, ctx);
  report(ctx.diags);
  if (!ran)
    return report(ran.diags());

  AdaptedGraph adapted = adaptGraph(*g);
  DotWriter writer(*g, adapted);
  std::ostringstream os;
  boost::write_graphviz(
      os, adapted.graph, [&](std::ostream &o, size_t v) { writer.vertex(o, v); },
      [&](std::ostream &o, DataflowGraph::edge_descriptor e) { writer.edge(o, e); },
      [&](std::ostream &o) {
        o << "label=\"" << escape(g->name) << "\";\nrankdir=TB;\n"
          << "node [fontname=\"monospace\", fontsize=10];\n";
      });
  return writeOutput(cl->get("o", "-"), os.str());
}
#pragma GCC diagnostic pop

} // namespace nnc::cli
