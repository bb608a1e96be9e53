/// SVG line charts.
#include "tools/nnc/SvgChart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace nnc::cli {

namespace {

constexpr double kLeft = 58, kRight = 14, kTop = 30, kBottom = 44;

std::string escaped(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

/// `0.25`, `1e+04` → short tick labels.
std::string tickLabel(double v) { return fmt::format("{:.4g}", std::fabs(v) < 1e-12 ? 0.0 : v); }

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  bool empty() const { return lo > hi; }
  /// Widened to a non-empty span.
  Range padded() const {
    Range r = *this;
    if (r.lo == r.hi) {
      double d = std::max(1.0, std::fabs(r.lo)) * 0.05;
      r.lo -= d;
      r.hi += d;
    }
    return r;
  }
};

/// One chart at horizontal offset `x0`.
std::string chartSvg(const Chart &chart, double x0, double width, double height) {
  Range xs, ys;
  for (const Series &s : chart.series)
    for (auto [x, y] : s.points) {
      xs.add(x);
      ys.add(y);
    }
  std::string svg =
      fmt::format(R"svg(<g transform="translate({},0)">)svg"
                  R"(<text x="{}" y="18" text-anchor="middle" font-size="14">{}</text>)",
                  x0, width / 2, escaped(chart.title));
  if (xs.empty()) {
    svg += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" fill="#666">no data</text></g>)",
                       width / 2, height / 2);
    return svg;
  }
  std::vector<double> xTicks = niceTicks(xs.padded().lo, xs.padded().hi);
  std::vector<double> yTicks = niceTicks(ys.padded().lo, ys.padded().hi);
  double xLo = std::min(xs.padded().lo, xTicks.front()),
         xHi = std::max(xs.padded().hi, xTicks.back());
  double yLo = std::min(ys.padded().lo, yTicks.front()),
         yHi = std::max(ys.padded().hi, yTicks.back());
  double plotW = width - kLeft - kRight, plotH = height - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - xLo) / (xHi - xLo) * plotW; };
  auto py = [&](double y) { return kTop + (yHi - y) / (yHi - yLo) * plotH; };
  svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#888"/>)",
                     kLeft, kTop, plotW, plotH);
  for (double t : xTicks)
    svg +=
        fmt::format(R"(<line x1="{0:.1f}" y1="{1}" x2="{0:.1f}" y2="{2}" stroke="#eee"/>)"
                    R"(<text x="{0:.1f}" y="{3}" text-anchor="middle" font-size="11">{4}</text>)",
                    px(t), kTop, kTop + plotH, kTop + plotH + 15, tickLabel(t));
  for (double t : yTicks)
    svg += fmt::format(R"(<line x1="{1}" y1="{0:.1f}" x2="{2}" y2="{0:.1f}" stroke="#eee"/>)"
                       R"(<text x="{3}" y="{4:.1f}" text-anchor="end" font-size="11">{5}</text>)",
                       py(t), kLeft, kLeft + plotW, kLeft - 5, py(t) + 4, tickLabel(t));
  svg += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>)",
                     kLeft + plotW / 2, height - 8, escaped(chart.xLabel));
  int legendRow = 0;
  for (const Series &s : chart.series) {
    if (s.points.empty())
      continue;
    std::string points;
    for (auto [x, y] : s.points)
      if (std::isfinite(y))
        points += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
    svg += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="{}" points="{}"/>)",
                       s.color, s.thin ? 1 : 2, points);
    if (s.markers)
      for (auto [x, y] : s.points)
        if (std::isfinite(y))
          svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)", px(x), py(y),
                             s.color);
    double ly = kTop + 14 + 16 * legendRow++;
    svg += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="3"/>)"
                       R"(<text x="{}" y="{}" font-size="11">{}</text>)",
                       kLeft + plotW - 130, ly - 4, kLeft + plotW - 112, ly - 4, s.color,
                       kLeft + plotW - 106, ly, escaped(s.name));
  }
  return svg + "</g>";
}

} // namespace

std::vector<double> niceTicks(double lo, double hi, int count) {
  double span = hi - lo;
  if (!(span > 0) || !std::isfinite(span))
    return {lo};
  double raw = span / std::max(1, count);
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  // Ticks as first + i * step (never an accumulating sum, which stalls when
  // step is below the spacing of doubles near lo), at most a few dozen.
  double first = std::floor(lo / step) * step;
  std::vector<double> ticks;
  for (int i = 0; i < 64; ++i) {
    double t = first + i * step;
    ticks.push_back(t);
    if (t >= hi)
      break;
  }
  return ticks;
}

std::string svgCharts(const std::vector<Chart> &charts, int width, int height) {
  int total = width * static_cast<int>(std::max<size_t>(charts.size(), 1));
  std::string svg = fmt::format(
      R"(<?xml version="1.0" encoding="UTF-8"?>)"
      "\n"
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" )"
      R"(font-family="sans-serif">)"
      "\n"
      R"(<rect width="{0}" height="{1}" fill="white"/>)"
      "\n",
      total, height);
  for (size_t i = 0; i < charts.size(); ++i)
    svg += chartSvg(charts[i], static_cast<double>(i) * width, width, height) + "\n";
  return svg + "</svg>\n";
}

} // namespace nnc::cli
