/// The interference graph of memory planning, behind a small adaptor over
/// Boost.Graph: vertices are things that need storage, an edge joins two
/// that are live at the same time, and a coloring gives each a buffer.
#pragma once

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/sequential_vertex_coloring.hpp>

#include <cstddef>
#include <vector>

namespace nnc {

class InterferenceGraph {
public:
  explicit InterferenceGraph(size_t vertices) : g_(vertices) {}

  size_t size() const { return boost::num_vertices(g_); }
  /// `a` and `b` are live together: they may not share a color.
  void addEdge(size_t a, size_t b) { boost::add_edge(a, b, g_); }

  /// Greedy coloring: the vertices in `order`, each taking the smallest
  /// color none of its neighbours has. Returns the color of each vertex.
  std::vector<size_t> color(const std::vector<size_t> &order) const {
    std::vector<size_t> colors(size());
    auto orderMap =
        boost::make_iterator_property_map(order.begin(), boost::identity_property_map());
    auto colorMap =
        boost::make_iterator_property_map(colors.begin(), boost::get(boost::vertex_index, g_));
    boost::sequential_vertex_coloring(g_, orderMap, colorMap);
    return colors;
  }

private:
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS>;
  Graph g_;
};

} // namespace nnc
