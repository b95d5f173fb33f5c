// Fuzzes the acme-signer TOML config parser (signer/config.h): any bytes give a config or an
// InvalidArgument listing the problems.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"
#include "signer/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace acme_signer;
  if (auto config =
          signer::ParseSignerConfig(fuzz::AsText(data, size), "/etc/acme-signer/signer.toml");
      config.ok()) {
    (void)config->FindAgent("web1");
  }
  return 0;
}
