#pragma once
// Small SVG primitives for the HTML report (results/report_html.h): escaping, scales and their
// ticks, colours, and a chart with axes, lines, points and a legend. The SVG is meant to sit inline
// in an HTML page (no xmlns: the HTML parser gives <svg> its namespace), so it needs no file,
// script or font of its own.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "results/metrics.h"

namespace clbench::svg {

// Text safe in HTML and SVG, in content and in quoted attribute values: & < > " ' escaped.
std::string escape(const std::string& text);
// At most `bytes` bytes of `text`, cut at a UTF-8 character boundary, "…" added when cut.
std::string shortened(const std::string& text, size_t bytes);
// A coordinate or value with at most `decimals` decimals and no trailing zeros ("12.5", "3").
std::string number(double x, int decimals = 1);
// A tick label: 3 significant digits, with k, M, G for thousands, millions, billions.
std::string tick_label(double x);

// The colour of series i: ten colours told apart with the common colour deficiencies, repeating.
std::string series_colour(size_t i);
// A colour for `value` on a sequential ramp (dark blue at lo to yellow at hi), and the text colour
// (black or white) readable on it.
std::string heat_colour(double value, double lo, double hi);
std::string heat_text_colour(double value, double lo, double hi);

struct Scale {
  double lo = 0, hi = 1;
  bool log = false;      // base 10; needs lo > 0
  bool integer = false;  // ticks on whole numbers only (task numbers)
};
// The scale over [lo, hi] that a plot of these values wants: from 0 (or the smallest value on a log
// scale) to the largest with a margin, log when the values are positive and span more than
// `log_span` (a ratio; 0: never log).
Scale scale_for(const std::vector<double>& values, double log_span = 0);
// About `count` round values in [lo, hi]: 1, 2 or 5 times a power of ten apart, or the powers of
// ten (with 2 and 5 times them within one decade or two) on a log scale.
std::vector<double> ticks(const Scale& scale, int count);

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

// A figure: a title, two labelled axes with ticks and a grid, series drawn as lines or points, and
// a legend of the series on the right. svg() gives the whole <svg> with an accessible <title>.
class Chart {
 public:
  Chart(std::string title, std::string x_label, Scale x, std::string y_label, Scale y);
  void line(const Series& series);    // a polyline with a marker at each point
  void points(const Series& series);  // markers only (a scatter)
  std::string svg(const std::string& css_class) const;

 private:
  double px(double x) const;
  double py(double y) const;
  std::string axes() const;
  std::string legend() const;
  std::string markers(const Series& series, const std::string& colour) const;

  std::string title_, x_label_, y_label_;
  Scale x_, y_;
  std::vector<std::string> names_;  // the legend, in the order drawn
  std::string body_;
};

// A heat map of square matrices side by side (class-IL and task-IL), one panel each: rows are the
// task trained last, columns the task tested, colours over 0..100 and, when `values`, the value in
// each cell. The whole <svg> with its title and colour scale.
struct HeatPanel {
  std::string name;
  Matrix matrix;
};
std::string heat_map(const std::string& title, const std::vector<HeatPanel>& panels, bool values,
                     const std::string& css_class);

}  // namespace clbench::svg
