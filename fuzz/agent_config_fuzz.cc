// Fuzzes the acme-agent TOML config parser (agent/agent_config.h).
#include <cstddef>
#include <cstdint>

#include "agent/agent_config.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace acme_signer;
  (void)agent::ParseAgentConfig(fuzz::AsText(data, size), "/etc/acme-agent/agent.toml");
  return 0;
}
