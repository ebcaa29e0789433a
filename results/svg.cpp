#include "results/svg.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace clbench::svg {
namespace {

// The chart's frame, in SVG user units (the viewBox; the page scales it to its width).
constexpr double kWidth = 720, kLeft = 70, kRight = 520, kTop = 44, kBottom = 290, kHeight = 340;
constexpr size_t kLegendRows = 14;  // names listed; then "+N more"
constexpr size_t kLegendBytes = 30;

struct Rgb {
  double r, g, b;
};

// Viridis at five stops: dark blue to yellow, legible in grey and with colour deficiencies.
constexpr std::array<Rgb, 5> kRamp = {
    {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}};

double fraction(double value, double lo, double hi) {
  if (!(hi > lo) || !std::isfinite(value)) return 0;
  return std::clamp((value - lo) / (hi - lo), 0.0, 1.0);
}

std::string hex(const Rgb& c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(c.r)),
                static_cast<int>(std::lround(c.g)), static_cast<int>(std::lround(c.b)));
  return buf;
}

std::string text_element(double x, double y, const std::string& anchor, const std::string& text,
                         const std::string& extra = "") {
  return "<text x=\"" + number(x) + "\" y=\"" + number(y) + "\" text-anchor=\"" + anchor + "\"" +
         extra + ">" + escape(text) + "</text>";
}

std::string svg_open(const std::string& css_class, double width, double height,
                     const std::string& title) {
  return "<svg class=\"" + css_class + "\" role=\"img\" viewBox=\"0 0 " + number(width) + " " +
         number(height) + "\" width=\"" + number(width) + "\" height=\"" + number(height) +
         "\"><title>" + escape(title) + "</title>" +
         text_element(width / 2, 20, "middle", title, " class=\"figure-title\"");
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string shortened(const std::string& text, size_t bytes) {
  if (text.size() <= bytes) return text;
  size_t end = bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "…";
}

std::string number(double x, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

std::string tick_label(double x) {
  const std::pair<double, const char*> units[] = {{1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
  char buf[32];
  for (const auto& [size, suffix] : units) {
    if (std::fabs(x) >= size) {
      std::snprintf(buf, sizeof buf, "%.3g%s", x / size, suffix);
      return buf;
    }
  }
  std::snprintf(buf, sizeof buf, "%.3g", x);
  return buf;
}

std::string series_colour(size_t i) {
  static const char* const colours[] = {"#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7",
                                        "#56b4e9", "#8c6d31", "#000000", "#f0e442", "#7f7f7f"};
  return colours[i % (sizeof colours / sizeof colours[0])];
}

std::string heat_colour(double value, double lo, double hi) {
  const double t = fraction(value, lo, hi) * static_cast<double>(kRamp.size() - 1);
  const size_t k = std::min(static_cast<size_t>(t), kRamp.size() - 2);
  const double u = t - static_cast<double>(k);
  const Rgb& a = kRamp[k];
  const Rgb& b = kRamp[k + 1];
  return hex({a.r + (b.r - a.r) * u, a.g + (b.g - a.g) * u, a.b + (b.b - a.b) * u});
}

std::string heat_text_colour(double value, double lo, double hi) {
  return fraction(value, lo, hi) < 0.6 ? "#ffffff" : "#000000";
}

Scale scale_for(const std::vector<double>& values, double log_span) {
  Scale s;
  if (values.empty()) return s;
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  if (log_span > 0 && *lo > 0 && *hi / *lo > log_span) {
    s.log = true;
    s.lo = std::pow(10, std::floor(std::log10(*lo)));
    s.hi = std::pow(10, std::ceil(std::log10(*hi)));
    return s;
  }
  s.lo = std::min(0.0, *lo);
  s.hi = *hi > s.lo ? s.lo + (*hi - s.lo) * 1.08 : s.lo + 1;
  return s;
}

std::vector<double> ticks(const Scale& scale, int count) {
  std::vector<double> out;
  if (scale.log) {
    const int first = static_cast<int>(std::floor(std::log10(scale.lo)));
    const int last = static_cast<int>(std::ceil(std::log10(scale.hi)));
    const bool fine = last - first <= 2;
    for (int p = first; p <= last; ++p) {
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = m * std::pow(10, p);
        if ((m == 1.0 || fine) && v >= scale.lo * (1 - 1e-9) && v <= scale.hi * (1 + 1e-9))
          out.push_back(v);
      }
    }
    return out;
  }
  const double range = scale.hi - scale.lo;
  if (!(range > 0) || count < 1) return {scale.lo};
  const double raw = range / count;
  const double power = std::pow(10, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * power;
    if (step >= raw) break;
  }
  if (scale.integer) step = std::max(1.0, std::round(step));
  for (double v = std::ceil(scale.lo / step - 1e-9) * step; v <= scale.hi + step * 1e-9; v += step)
    out.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return out;
}

Chart::Chart(std::string title, std::string x_label, Scale x, std::string y_label, Scale y)
    : title_(std::move(title)),
      x_label_(std::move(x_label)),
      y_label_(std::move(y_label)),
      x_(x),
      y_(y) {}

double Chart::px(double x) const {
  const double t = x_.log ? (std::log10(x) - std::log10(x_.lo)) / (std::log10(x_.hi / x_.lo))
                          : (x - x_.lo) / (x_.hi - x_.lo);
  return kLeft + t * (kRight - kLeft);
}

double Chart::py(double y) const {
  const double t = y_.log ? (std::log10(y) - std::log10(y_.lo)) / (std::log10(y_.hi / y_.lo))
                          : (y - y_.lo) / (y_.hi - y_.lo);
  return kBottom - t * (kBottom - kTop);
}

std::string Chart::markers(const Series& series, const std::string& colour) const {
  std::string out;
  for (const auto& [x, y] : series.points) {
    out += "<circle cx=\"" + number(px(x)) + "\" cy=\"" + number(py(y)) + "\" r=\"3.5\" fill=\"" +
           colour + "\"><title>" + escape(series.name) + ": (" + tick_label(x) + ", " +
           tick_label(y) + ")</title></circle>";
  }
  return out;
}

void Chart::line(const Series& series) {
  const std::string colour = series_colour(names_.size());
  std::string points;
  for (const auto& [x, y] : series.points)
    points += (points.empty() ? "" : " ") + number(px(x)) + "," + number(py(y));
  body_ += "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\" points=\"" +
           points + "\"/>" + markers(series, colour);
  names_.push_back(series.name);
}

void Chart::points(const Series& series) {
  body_ += markers(series, series_colour(names_.size()));
  names_.push_back(series.name);
}

std::string Chart::axes() const {
  std::string out = "<g class=\"axes\">";
  const double x_count = x_.integer ? std::min(10.0, x_.hi - x_.lo) : 6;
  for (double v : ticks(x_, static_cast<int>(x_count))) {
    const double x = px(v);
    out += "<line class=\"grid\" x1=\"" + number(x) + "\" y1=\"" + number(kTop) + "\" x2=\"" +
           number(x) + "\" y2=\"" + number(kBottom) + "\"/>" +
           text_element(x, kBottom + 16, "middle", tick_label(v));
  }
  for (double v : ticks(y_, 5)) {
    const double y = py(v);
    out += "<line class=\"grid\" x1=\"" + number(kLeft) + "\" y1=\"" + number(y) + "\" x2=\"" +
           number(kRight) + "\" y2=\"" + number(y) + "\"/>" +
           text_element(kLeft - 6, y + 4, "end", tick_label(v));
  }
  out += "<rect class=\"frame\" x=\"" + number(kLeft) + "\" y=\"" + number(kTop) + "\" width=\"" +
         number(kRight - kLeft) + "\" height=\"" + number(kBottom - kTop) + "\"/>" +
         text_element((kLeft + kRight) / 2, kBottom + 36, "middle",
                      x_label_ + (x_.log ? " (log scale)" : "")) +
         text_element(16, (kTop + kBottom) / 2, "middle", y_label_,
                      " transform=\"rotate(-90 16 " + number((kTop + kBottom) / 2) + ")\"");
  return out + "</g>";
}

std::string Chart::legend() const {
  std::string out = "<g class=\"legend\">";
  const size_t shown = names_.size() > kLegendRows ? kLegendRows - 1 : names_.size();
  for (size_t i = 0; i < shown; ++i) {
    const double y = kTop + 8 + 18 * static_cast<double>(i);
    out += "<rect x=\"" + number(kRight + 16) + "\" y=\"" + number(y - 9) +
           "\" width=\"12\" height=\"12\" fill=\"" + series_colour(i) + "\"/>" +
           text_element(kRight + 34, y + 1, "start", shortened(names_[i], kLegendBytes));
  }
  if (shown < names_.size()) {
    out += text_element(kRight + 16, kTop + 8 + 18 * static_cast<double>(shown) + 1, "start",
                        "+" + std::to_string(names_.size() - shown) + " more");
  }
  return out + "</g>";
}

std::string Chart::svg(const std::string& css_class) const {
  return svg_open(css_class, kWidth, kHeight, title_) + axes() + body_ + legend() + "</svg>";
}

std::string heat_map(const std::string& title, const std::vector<HeatPanel>& panels, bool values,
                     const std::string& css_class) {
  size_t T = 1;
  for (const auto& p : panels) T = std::max(T, p.matrix.size());
  const double cell = std::clamp(280.0 / static_cast<double>(T), 4.0, 40.0);
  const double side = cell * static_cast<double>(T), left = 56, top = 66, gap = 64;
  const double width = left + (side + gap) * static_cast<double>(panels.size()) + 40;
  const double height = top + side + 24;
  const size_t every = T <= 20 ? 1 : (T + 9) / 10;  // task-number labels
  std::string out = svg_open(css_class, width, height, title);
  for (size_t k = 0; k < panels.size(); ++k) {
    const Matrix& m = panels[k].matrix;
    const double x0 = left + (side + gap) * static_cast<double>(k);
    out += text_element(x0 + side / 2, 38, "middle", panels[k].name + ": tested on task (column)");
    for (size_t i = 0; i < m.size(); i += every) {
      const std::string n = std::to_string(i + 1);
      out += text_element(x0 + cell * (static_cast<double>(i) + 0.5), top - 6, "middle", n) +
             text_element(x0 - 6, top + cell * (static_cast<double>(i) + 0.5) + 4, "end", n);
    }
    for (size_t i = 0; i < m.size(); ++i) {
      for (size_t j = 0; j < m[i].size(); ++j) {
        if (std::isnan(m[i][j])) continue;  // not evaluated (a later task, eval_future=next)
        const double x = x0 + cell * static_cast<double>(j);
        const double y = top + cell * static_cast<double>(i);
        out += "<rect x=\"" + number(x) + "\" y=\"" + number(y) + "\" width=\"" + number(cell) +
               "\" height=\"" + number(cell) + "\" fill=\"" + heat_colour(m[i][j], 0, 100) +
               "\"><title>after task " + std::to_string(i + 1) + ", task " + std::to_string(j + 1) +
               ": " + number(m[i][j], 2) + "</title></rect>";
        if (values) {
          out += text_element(x + cell / 2, y + cell / 2 + 4, "middle", number(m[i][j], 1),
                              " class=\"cell\" fill=\"" + heat_text_colour(m[i][j], 0, 100) + "\"");
        }
      }
    }
  }
  out += text_element(14, top + side / 2, "middle", "after training task (row)",
                      " transform=\"rotate(-90 14 " + number(top + side / 2) + ")\"");
  // The colour scale: 0 at the bottom, 100 at the top.
  const double bar_x = width - 30;
  for (int s = 0; s < 10; ++s) {
    out += "<rect x=\"" + number(bar_x) + "\" y=\"" + number(top + side * (9 - s) / 10.0) +
           "\" width=\"10\" height=\"" + number(side / 10.0 + 0.5) + "\" fill=\"" +
           heat_colour(s * 10.0 + 5, 0, 100) + "\"/>";
  }
  out += text_element(bar_x + 5, top - 6, "middle", "100") +
         text_element(bar_x + 5, top + side + 14, "middle", "0");
  return out + "</svg>";
}

}  // namespace clbench::svg
