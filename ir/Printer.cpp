#include "ir/Printer.h"
namespace nnc {
std::string printGraph(const Graph &) { return ""; }
std::string formatNumber(double) { return ""; }
}
