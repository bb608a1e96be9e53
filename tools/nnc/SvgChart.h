/// Line charts as SVG, for `nnc plot`: axes with round-numbered ticks, one
/// polyline per series, a legend. No dependencies: SVG is text.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace nnc::cli {

struct Series {
  std::string name;
  std::string color;                             ///< any SVG color: "#1f77b4"
  std::vector<std::pair<double, double>> points; ///< (x, y), in order of x
  bool thin = false;                             ///< a light line (many noisy points)
  bool markers = false;                          ///< a dot at each point
};

struct Chart {
  std::string title;
  std::string xLabel;
  std::vector<Series> series;
};

/// The charts side by side, each `width` x `height` pixels, as an SVG
/// document. Series without points are left out; a chart without any says so.
std::string svgCharts(const std::vector<Chart> &charts, int width = 480, int height = 340);

/// Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of
/// ten, about `count` of them.
std::vector<double> niceTicks(double lo, double hi, int count = 5);

} // namespace nnc::cli
