// Fuzzes the response header parsers of http/headers.h and the URL parser of http/url.h.
// Input: lines; every line is one Link header value (resolved against a fixed order URL) and
// the whole input is also tried as a Retry-After value, a Replay-Nonce, a Content-Type, a URL
// and a reference relative to the order URL.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_support.h"
#include "http/headers.h"
#include "http/url.h"

namespace acme_signer::http {
namespace {

constexpr char kBaseUrl[] = "https://ca.test:14000/acme/order/1?x=1";

void Exercise(absl::string_view input) {
  std::vector<std::string> values = absl::StrSplit(input, '\n');
  if (auto links = ParseLinkHeaders(values, kBaseUrl); links.ok()) {
    (void)LinksWithRel(*links, "up");
    (void)LinksWithRel(*links, "alternate");
  }
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  for (const std::string& value : values) {
    (void)ParseRetryAfter(value, now);
  }
  (void)ParseRetryAfter(input, absl::InfinitePast());
  (void)ParseRetryAfter(input, absl::InfiniteFuture());
  (void)ValidateReplayNonce(input);
  (void)MediaType(input);
  if (absl::StatusOr<Url> url = Url::Parse(input); url.ok()) (void)url->Origin();
  (void)ResolveReference(kBaseUrl, input);
}

}  // namespace
}  // namespace acme_signer::http

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  acme_signer::http::Exercise(acme_signer::fuzz::AsText(data, size));
  return 0;
}
