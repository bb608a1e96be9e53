/// nnc::ModelGraph (include/nnc/ModelGraph.h): the public handle of a graph.
#include "nnc/ModelGraph.h"

#include "frontend/ModelFile.h"
#include "ir/Printer.h"

namespace nnc {

ModelGraph::ModelGraph(Graph graph) : graph_(std::make_shared<const Graph>(std::move(graph))) {}

Result<ModelGraph> ModelGraph::parse(const std::string &text, const std::string &name) {
  Result<Graph> g = loadModelText(text, name);
  if (!g)
    return Result<ModelGraph>(g.takeDiags());
  return ModelGraph(std::move(g).value());
}

Result<ModelGraph> ModelGraph::load(const std::string &path) {
  Result<Graph> g = loadModel(path);
  if (!g)
    return Result<ModelGraph>(g.takeDiags());
  return ModelGraph(std::move(g).value());
}

const std::string &ModelGraph::name() const { return graph_->name; }

std::string ModelGraph::print() const { return printGraph(*graph_); }

} // namespace nnc
