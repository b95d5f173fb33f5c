// Fuzzes the http-01 responder's request-head parser (http::ParseRequestHead): the bytes any
// host on the network can send to the agent's standalone listener.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"
#include "http/http01_responder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace acme_signer;
  (void)http::ParseRequestHead(fuzz::AsText(data, size));
  return 0;
}
