// Owners for libcurl handles and the process-wide libcurl initialisation, shared by every
// user of libcurl (the ACME client's CurlHttpClient, the front door's http-01 validator), so
// that nobody calls curl_easy_cleanup or curl_slist_free_all by hand.
//
// Thread-safety: CurlGlobalInit may be called from any thread, any number of times. Handles
// are owned values; one easy handle is used by one thread at a time (libcurl's rule).
#ifndef ACME_SIGNER_HTTP_CURL_HANDLES_H_
#define ACME_SIGNER_HTTP_CURL_HANDLES_H_

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace acme_signer::http {

struct CurlEasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
// An easy handle: CurlEasyHandle(curl_easy_init()); null when libcurl is out of memory.
using CurlEasyHandle = std::unique_ptr<CURL, CurlEasyDeleter>;

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
// A header (or CURLOPT_RESOLVE / CURLOPT_CONNECT_TO) list; null is the empty list.
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// Appends `line` to `list`. False when libcurl is out of memory (the list is unchanged).
inline bool CurlSlistAppend(CurlSlist& list, const std::string& line) {
  curl_slist* next = curl_slist_append(list.get(), line.c_str());
  if (next == nullptr) return false;
  (void)list.release();  // `next` is the same list, extended.
  list.reset(next);
  return true;
}

// curl_global_init, once per process. Internal naming curl's reason when it failed.
inline absl::Status CurlGlobalInit() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("libcurl initialisation failed: ", curl_easy_strerror(result)));
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_CURL_HANDLES_H_
