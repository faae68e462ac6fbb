// The op table's storage (see registry.h). Filled by the EMBER_OP registrations of every ops file
// during static initialisation, read once by the bindings at import.
#include "ember/ops/registry.h"

namespace ember {

std::vector<OpDef>& op_table() {
  static std::vector<OpDef>* table = new std::vector<OpDef>();  // never destroyed: read at exit-free times
  return *table;
}

}  // namespace ember
