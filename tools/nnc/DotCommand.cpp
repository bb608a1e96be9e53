/// `nnc dot M.ir [--passes=a,b | --pipeline=train|infer] [-o OUT.dot]`: the
/// graph after those passes as Graphviz DOT, written by Boost.Graph.
///
/// Each op is a box labelled with its name and op, its result type and its
/// source line; forward ops are blue, backward ones (gradient ops and all
/// that follows the first of them: the optimizer's update) orange. A fused
/// op (`fused_*`) is a cluster with that label, holding one small node per
/// operation it fused (tools/nnc/FusedParts.h), chained in order: its input
/// edges enter at the first part that reads them, its result leaves from the
/// last. Declarations are ellipses (params green); outputs have a double
/// border; a dashed edge leads from an update's value to its param or state.
#include "ir/Printer.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/FusedParts.h"
#include "tools/nnc/OutputFile.h"

// GCC 12 reports the edge iterator inside Boost's subgraph writer (a
// boost::optional) as maybe uninitialized: a known false alarm, reported at
// the header's lines, so it is silenced around the includes.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/graph/graphviz.hpp>
#include <boost/graph/subgraph.hpp>
#pragma GCC diagnostic pop

#include <map>
#include <optional>
#include <sstream>

namespace nnc::cli {

namespace {

/// An attribute value, always quoted. Boost's writer quotes only values
/// that are not plain identifiers, so it leaves DOT keywords bare (a model
/// called `graph`) and escapes no backslashes; it calls escape_dot_string
/// unqualified, so this overload, found by argument-dependent lookup, writes
/// the values instead (as nnc dot wrote them before it used Boost's subgraphs).
struct DotString {
  DotString(std::string s = {}) : text(std::move(s)) {}
  DotString(const char *s) : text(s) {}
  std::string text;
};

std::string escape_dot_string(const DotString &value) {
  std::string out = "\"";
  for (char c : value.text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n')
      out += "\\n"; // DOT's line break
    else
      out += c;
  }
  return out + '"';
}

// Boost's writer prints a subgraph tree with these attribute maps; a child
// whose name starts with "cluster" is drawn as a box around its nodes.
using Attributes = std::map<std::string, DotString>;
using DotBase = boost::adjacency_list<
    boost::vecS, boost::vecS, boost::directedS,
    boost::property<boost::vertex_attribute_t, Attributes>,
    boost::property<boost::edge_index_t, int, boost::property<boost::edge_attribute_t, Attributes>>,
    boost::property<boost::graph_name_t, std::string,
                    boost::property<boost::graph_graph_attribute_t, Attributes,
                                    boost::property<boost::graph_vertex_attribute_t, Attributes,
                                                    boost::property<boost::graph_edge_attribute_t,
                                                                    Attributes>>>>>;
using DotGraph = boost::subgraph<DotBase>;
using DotVertex = DotGraph::vertex_descriptor;

class DotBuilder {
public:
  DotBuilder(const Graph &g, DotGraph &root) : g_(g), root_(root) {
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
    exit_.assign(g.values.size(), std::nullopt);
  }

  /// Declarations, then nodes in order (each with its operand edges), then
  /// the update edges.
  void build() {
    boost::get_property(root_, boost::graph_name) = "G";
    boost::get_property(root_, boost::graph_graph_attribute) = {
        {"label", g_.name}, {"rankdir", "TB"}, {"fontname", "monospace"}};
    boost::get_property(root_, boost::graph_vertex_attribute) = {{"fontname", "monospace"},
                                                                 {"fontsize", "10"}};
    for (size_t i = 0; i < g_.values.size(); ++i)
      if (g_.values[i].isDeclaration())
        addDeclaration(static_cast<ValueId>(i));
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node &n = g_.nodes[i];
      if (n.info().has(kFusedForm))
        addCluster(static_cast<NodeId>(i));
      else
        addOp(static_cast<NodeId>(i));
    }
    for (const Update &u : g_.updates)
      if (exit_[static_cast<size_t>(u.value)])
        edge(*exit_[static_cast<size_t>(u.value)], *exit_[static_cast<size_t>(u.target)],
             {{"style", "dashed"}, {"constraint", "false"}, {"label", "<-"}});
  }

private:
  bool backward(NodeId id) const { return static_cast<size_t>(id) >= firstBackward_; }

  DotVertex vertex(DotGraph &parent, Attributes attrs) {
    DotVertex v = parent.local_to_global(boost::add_vertex(parent));
    boost::put(boost::vertex_attribute, root_, v, std::move(attrs));
    return v;
  }

  void edge(DotVertex from, DotVertex to, Attributes attrs = {}) {
    auto e = boost::add_edge(from, to, root_).first;
    boost::put(boost::edge_attribute, root_, e, std::move(attrs));
  }

  /// The vertex that shows `value`'s producer; a double border if it is an
  /// output.
  void setExit(ValueId value, DotVertex v) {
    exit_[static_cast<size_t>(value)] = v;
    if (isOutput_[static_cast<size_t>(value)])
      boost::get(boost::vertex_attribute, root_)[v]["peripheries"] = "2";
  }

  void addDeclaration(ValueId id) {
    const Value &val = g_.value(id);
    std::string label =
        std::string(valueKindName(val.kind)) + " " + val.name + "\n" + g_.typeString(id);
    const char *fill = val.kind == ValueKind::Param   ? "#d9f2d0"
                       : val.kind == ValueKind::State ? "#e6e6e6"
                                                      : "#ffffff";
    setExit(
        id,
        vertex(root_,
               {{"label", label}, {"shape", "ellipse"}, {"style", "filled"}, {"fillcolor", fill}}));
  }

  /// `name = op (numbers)`, the result type and the source line.
  std::string opLabel(const Node &n) const {
    const Value &val = g_.value(n.result);
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
    return label;
  }

  /// Edges from each operand's producer to `entry[i]` (numbers have none).
  void linkOperands(const Node &n, const std::vector<DotVertex> &entry) {
    for (size_t i = 0; i < n.operands.size(); ++i)
      if (auto from = exit_[static_cast<size_t>(n.operands[i])])
        edge(*from, entry[i]);
  }

  void addOp(NodeId id) {
    const Node &n = g_.node(id);
    bool back = backward(id);
    DotVertex v = vertex(root_, {{"label", opLabel(n)},
                                 {"shape", "box"},
                                 {"style", "filled"},
                                 {"fillcolor", back ? "#ffe0c2" : "#dbe9ff"},
                                 {"class", back ? "backward" : "forward"}});
    linkOperands(n, std::vector<DotVertex>(n.operands.size(), v));
    setExit(n.result, v);
  }

  /// A cluster labelled like an op, one node per fused part, the parts'
  /// edges inside it.
  void addCluster(NodeId id) {
    const Node &n = g_.node(id);
    bool back = backward(id);
    std::string cls = back ? "fused backward" : "fused forward";
    DotGraph &cluster = root_.create_subgraph();
    boost::get_property(cluster, boost::graph_name) = "cluster_" + std::to_string(clusters_++);
    boost::get_property(cluster, boost::graph_graph_attribute) = {
        {"label", opLabel(n)},
        {"style", "filled,bold"},
        {"fillcolor", back ? "#fff4ea" : "#f0f5ff"},
        {"pencolor", back ? "#cc6600" : "#3366cc"},
        {"class", cls}};
    std::vector<FusedPart> parts = fusedParts(g_, n);
    std::vector<DotVertex> partVertex;
    for (const FusedPart &p : parts) {
      DotVertex v = vertex(cluster, {{"label", p.label},
                                     {"shape", "box"},
                                     {"style", "rounded,filled"},
                                     {"fontsize", "9"},
                                     {"fillcolor", back ? "#ffb366" : "#80aaff"},
                                     {"class", cls}});
      // Both ends lie in the cluster, so Boost prints the edge inside it.
      for (int from : p.parts)
        edge(partVertex[static_cast<size_t>(from)], v);
      partVertex.push_back(v);
    }
    linkOperands(n, entries(n, parts, partVertex));
    setExit(n.result, partVertex.back());
  }

  /// Where each operand enters a cluster: the first part that reads it,
  /// else the first part. (Later parts are visited first so the first wins.)
  static std::vector<DotVertex> entries(const Node &n, const std::vector<FusedPart> &parts,
                                        const std::vector<DotVertex> &partVertex) {
    std::vector<DotVertex> entry(n.operands.size(), partVertex.front());
    for (size_t k = parts.size(); k-- > 0;)
      for (int i : parts[k].inputs)
        if (i >= 0 && static_cast<size_t>(i) < entry.size())
          entry[static_cast<size_t>(i)] = partVertex[k];
    return entry;
  }

  const Graph &g_;
  DotGraph &root_;
  size_t firstBackward_;
  int clusters_ = 0;
  std::vector<bool> isOutput_;
  std::vector<std::optional<DotVertex>> exit_; ///< per value: the vertex its edges leave
};

} // namespace

const CommandSpec &dotCommandSpec() {
  static const CommandSpec spec{
      "dot",
      "M.ir [options]",
      "Graphviz DOT of the graph after some passes",
      "Writes the model's graph (after --passes, or a default pipeline) as Graphviz DOT:\n"
      "fused ops as clusters of the ops they stand for.",
      {
          option("passes", "P1,P2", "run these passes first"),
          option("pipeline", "train|infer", "run this default pipeline first"),
          allowExternalPathsOption(),
          option("o", "OUT.dot", "write to OUT.dot instead of stdout"),
      },
      {"nnc dot examples/resnet_s.ir --pipeline=train -o resnet.dot"}};
  return spec;
}

int dotCommand(const Args &args) {
  int status = 0;
  auto cl = parseCommandLine(args, dotCommandSpec(), status);
  if (!cl)
    return status;
  Result<Graph> g = loadModelArgument(*cl);
  if (!g)
    return report(g.diags());

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

  DotGraph root;
  DotBuilder(*g, root).build();
  std::ostringstream os;
  boost::write_graphviz(os, root);
  return writeOutput(cl->get("o", "-"), os.str());
}

} // namespace nnc::cli
