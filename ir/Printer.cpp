/// The canonical printer (IR.md section 2): declarations by group, one op
/// per line with its type, then updates, outputs and minimize.
#include "ir/Printer.h"

#include <charconv>
#include <cmath>
#include <set>

namespace nnc {

std::string formatNumber(double v) {
  float f = static_cast<float>(v);
  if (std::isnan(f))
    return "nan";
  if (std::isinf(f))
    return f < 0 ? "-inf" : "inf";
  if (f == 0)
    return std::signbit(f) ? "-0" : "0";
  // Shortest round-trip digits, in the form d[.ddd]e[-]X.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(f), std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  size_t ePos = sci.find('e');
  std::string digits = sci.substr(0, 1) + (ePos > 2 ? sci.substr(2, ePos - 2) : "");
  int exponent = std::stoi(sci.substr(ePos + 1));
  std::string out = f < 0 ? "-" : "";
  double mag = std::fabs(static_cast<double>(f));
  // numpy's repr switches to scientific notation outside [1e-4, 1e16),
  // comparing the exact f32 value in double.
  if (mag < 1e-4 || mag >= 1e16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1)
      out += "." + digits.substr(1);
    return out + "e" + std::to_string(exponent);
  }
  int pointAt = exponent + 1; // digits before the decimal point
  if (pointAt <= 0)
    return out + "0." + std::string(static_cast<size_t>(-pointAt), '0') + digits;
  if (static_cast<size_t>(pointAt) >= digits.size())
    return out + digits + std::string(static_cast<size_t>(pointAt) - digits.size(), '0');
  return out + digits.substr(0, static_cast<size_t>(pointAt)) + "." +
         digits.substr(static_cast<size_t>(pointAt));
}

namespace {

std::string formatAttrValue(const AttrValue &v) {
  switch (v.kind) {
  case AttrValue::Kind::None:
    return "";
  case AttrValue::Kind::Number:
    return formatNumber(v.number);
  case AttrValue::Kind::Bool:
    return v.boolean ? "true" : "false";
  case AttrValue::Kind::Ident:
    return v.ident;
  case AttrValue::Kind::Text: {
    std::string out = "\"";
    for (char c : v.ident)
      out += c == '"' || c == '\\' ? std::string{'\\', c} : std::string{c};
    return out + "\"";
  }
  case AttrValue::Kind::List: {
    std::string out = "[";
    for (size_t i = 0; i < v.list.size(); ++i)
      out += (i ? ", " : "") + formatAttrValue(v.list[i]);
    return out + "]";
  }
  }
  return "";
}

/// `key=value` for each attribute that differs from its default; an
/// `[s, s]` pair prints as `s`; positional attributes print bare.
std::vector<std::string> formatAttrs(const std::vector<AttrSpec> &specs, const Attrs &attrs) {
  std::vector<std::string> out;
  for (size_t i = 0; i < specs.size() && i < attrs.size(); ++i) {
    const AttrValue &v = attrs[i];
    if (v.isNone() || (!specs[i].positional && v == specs[i].defaultValue))
      continue;
    std::string text = formatAttrValue(v);
    if (specs[i].type == AttrType::IntPair && v.list.size() == 2 && v.list[0] == v.list[1])
      text = formatAttrValue(v.list[0]);
    out.push_back(specs[i].positional ? text : std::string(specs[i].name) + "=" + text);
  }
  return out;
}

std::string joinArgs(const std::vector<std::string> &parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i)
    out += (i ? ", " : "") + parts[i];
  return out;
}

/// Nested lists of a static shape, row-major: `[[1, 2], [3, 4]]`.
std::string formatLiteral(const std::vector<double> &data, const Shape &shape, size_t depth,
                          size_t &next) {
  if (depth == shape.size())
    return next < data.size() ? formatNumber(data[next++]) : "0";
  std::string out = "[";
  for (int64_t i = 0; i < shape[depth].size; ++i)
    out += (i ? ", " : "") + formatLiteral(data, shape, depth + 1, next);
  return out + "]";
}

class Printer {
public:
  explicit Printer(const Graph &g) : g_(g), dimNames_(g.dimNames()) { assignNames(); }

  const std::vector<std::string> &names() const { return names_; }

  std::string print() {
    out_ = "model " + g_.name + " {\n";
    for (const DimDecl &d : g_.dims)
      line("dim " + d.name);
    for (ValueKind kind : {ValueKind::Input, ValueKind::Param, ValueKind::State, ValueKind::Const})
      for (ValueId id : g_.valuesOfKind(kind))
        line(declaration(id));
    for (const Node &n : g_.nodes)
      line(names_[static_cast<size_t>(n.result)] + ": " + typeOf(n.result) + " = " + opCall(n));
    for (const Update &u : g_.updates)
      line(names_[static_cast<size_t>(u.target)] + " <- " + operand(u.value));
    if (!g_.outputs.empty()) {
      std::vector<std::string> outs;
      for (const OutputRef &o : g_.outputs)
        outs.push_back(names_[static_cast<size_t>(o.value)]);
      line("output " + joinArgs(outs));
    }
    if (g_.minimize) {
      const CallableInfo *opt = findOptimizer(g_.minimize->optimizer);
      std::string args = opt ? joinArgs(formatAttrs(opt->attrs, g_.minimize->args)) : "";
      line("minimize " + names_[static_cast<size_t>(g_.minimize->loss)] + " with " +
           g_.minimize->optimizer + "(" + args + ")");
    }
    out_ += "}\n";
    return out_;
  }

private:
  void line(const std::string &text) { out_ += "  " + text + "\n"; }
  std::string typeOf(ValueId id) const { return typeToString(g_.type(id), dimNames_); }

  /// User names stay; unnamed results get the lowest unused tK.
  void assignNames() {
    std::set<std::string> taken;
    for (const Value &v : g_.values)
      if (!v.name.empty())
        taken.insert(v.name);
    for (const DimDecl &d : g_.dims)
      taken.insert(d.name);
    names_.resize(g_.values.size());
    for (size_t i = 0; i < g_.values.size(); ++i)
      names_[i] = g_.values[i].name;
    // Temporaries are numbered in printing order, i.e. node order.
    int next = 0;
    for (const Node &n : g_.nodes) {
      const Value &v = g_.value(n.result);
      if (!v.name.empty())
        continue;
      std::string candidate;
      do {
        candidate = "t" + std::to_string(next++);
      } while (taken.count(candidate));
      names_[static_cast<size_t>(n.result)] = candidate;
    }
  }

  std::string operand(ValueId id) const {
    const Value &v = g_.value(id);
    if (v.kind == ValueKind::Immediate)
      return formatNumber(v.immediate());
    return names_[static_cast<size_t>(id)];
  }

  std::string opCall(const Node &n) const {
    std::vector<std::string> parts;
    for (ValueId v : n.operands)
      parts.push_back(operand(v));
    for (std::string &a : formatAttrs(n.info().attrs, n.attrs))
      parts.push_back(std::move(a));
    return std::string(n.info().name) + "(" + joinArgs(parts) + ")";
  }

  std::string declaration(ValueId id) const {
    const Value &v = g_.value(id);
    std::string head = std::string(valueKindName(v.kind)) + " " + v.name + ": " + typeOf(id);
    if (v.kind == ValueKind::Input)
      return head;
    if (v.init.name == "literal" || v.init.name.empty()) {
      size_t next = 0;
      return head + " = " + formatLiteral(v.data, v.type.shape, 0, next);
    }
    const CallableInfo *init = findInitializer(v.init.name);
    std::string args = init ? joinArgs(formatAttrs(init->attrs, v.init.args)) : "";
    return head + " = " + v.init.name + "(" + args + ")";
  }

  const Graph &g_;
  DimNames dimNames_;
  std::vector<std::string> names_;
  std::string out_;
};

} // namespace

std::string printGraph(const Graph &g) { return Printer(g).print(); }

std::vector<std::string> printedNames(const Graph &g) { return Printer(g).names(); }

} // namespace nnc
