/// A Graph as a Boost.Graph adjacency_list, for the Boost algorithms and
/// writers (DOT output). The rest of nnc talks about nodes and values; only
/// code that runs a Boost.Graph algorithm sees this.
#pragma once

#include "ir/Graph.h"

#include <boost/graph/adjacency_list.hpp>

#include <vector>

namespace nnc {

/// What a vertex stands for: an op node, or a declared value (input, param,
/// state, const). Numbers (immediates) have no vertex.
struct DataflowVertex {
  NodeId node = -1;         ///< the op node, or -1 for a declaration
  ValueId value = kNoValue; ///< the node's result, or the declared value
};

/// How a value reaches a vertex: as an operand of a node, or as the new
/// value of a param or state (`target <- value`).
struct DataflowEdge {
  bool update = false;
};

using DataflowGraph =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, DataflowVertex, DataflowEdge>;

/// The dataflow graph of `g` and, for each value, its vertex (or -1 for
/// numbers). Vertices: declarations in value order, then nodes in order.
/// Edges: operand -> user node, and update value -> updated param or state.
struct AdaptedGraph {
  DataflowGraph graph;
  std::vector<int64_t> vertexOfValue;
};

inline AdaptedGraph adaptGraph(const Graph &g) {
  AdaptedGraph a;
  a.vertexOfValue.assign(g.values.size(), -1);
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].isDeclaration())
      a.vertexOfValue[i] = static_cast<int64_t>(
          boost::add_vertex(DataflowVertex{-1, static_cast<ValueId>(i)}, a.graph));
  for (size_t i = 0; i < g.nodes.size(); ++i)
    a.vertexOfValue[static_cast<size_t>(g.nodes[i].result)] = static_cast<int64_t>(
        boost::add_vertex(DataflowVertex{static_cast<NodeId>(i), g.nodes[i].result}, a.graph));
  auto vertex = [&](ValueId v) { return a.vertexOfValue[static_cast<size_t>(v)]; };
  for (const Node &n : g.nodes)
    for (ValueId v : n.operands)
      if (vertex(v) >= 0)
        boost::add_edge(static_cast<size_t>(vertex(v)), static_cast<size_t>(vertex(n.result)),
                        DataflowEdge{false}, a.graph);
  for (const Update &u : g.updates)
    if (vertex(u.value) >= 0)
      boost::add_edge(static_cast<size_t>(vertex(u.value)), static_cast<size_t>(vertex(u.target)),
                      DataflowEdge{true}, a.graph);
  return a;
}

} // namespace nnc
