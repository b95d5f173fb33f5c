// Owners for libcurl handles, the process-wide libcurl initialisation and the options every
// transfer starts with, shared by every user of libcurl (the ACME client's CurlHttpClient, the
// front door's http-01 validator, the URL module), so that nobody calls curl_easy_cleanup,
// curl_slist_free_all, curl_url_cleanup or curl_free by hand.
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

struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
// A URL handle: CurlUrl(curl_url()); null when libcurl is out of memory.
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

struct CurlStringDeleter {
  void operator()(char* text) const { curl_free(text); }
};
// A string libcurl allocated for the caller (curl_url_get, curl_easy_escape, ...).
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

// Appends `line` to `list`. False when libcurl is out of memory (the list is unchanged).
inline bool CurlSlistAppend(CurlSlist& list, const std::string& line) {
  curl_slist* next = curl_slist_append(list.get(), line.c_str());
  if (next == nullptr) return false;
  (void)list.release();  // `next` is the same list, extended.
  list.reset(next);
  return true;
}

// The options every transfer of the project starts with, for one reason: a transfer is one
// request to `url` and to nothing else. Only `protocols` (CURLOPT_PROTOCOLS_STR: "https",
// "http" or "http,https"); no redirect followed (a 3xx comes back to the caller, which checks
// a Location before it goes there); no signals (libcurl's SIGALRM-based DNS timeouts are
// unsafe in a threaded process); curl's reason for a failure in `error_buffer`
// (CURL_ERROR_SIZE bytes). `url` and `error_buffer` must outlive the transfer. The first
// failing option's code, or CURLE_OK.
inline CURLcode SetBaseTransferOptions(CURL* easy, const char* url, const char* protocols,
                                       char* error_buffer) {
  CURLcode rc = curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_URL, url);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, protocols);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  return rc;
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
