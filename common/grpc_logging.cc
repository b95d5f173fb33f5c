#include "common/grpc_logging.h"

#include <grpc/support/log.h>

#include <iostream>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace acme_signer {
namespace {

// Where gRPC's log lines go. RouteGrpcLogging may replace the handler while gRPC logs on other
// threads: Dispatch copies it under the lock and calls it outside, so a handler that logs (or
// replaces itself) cannot deadlock.
struct HandlerSlot {
  absl::Mutex mu;
  std::shared_ptr<const GrpcLogHandler> handler ABSL_GUARDED_BY(mu);
};

HandlerSlot& Slot() {
  static auto* slot = new HandlerSlot();  // never destroyed: gRPC may still log at exit
  return *slot;
}

void Dispatch(gpr_log_func_args* args) {
  std::shared_ptr<const GrpcLogHandler> handler;
  {
    HandlerSlot& slot = Slot();
    absl::MutexLock lock(&slot.mu);
    handler = slot.handler;
  }
  if (handler == nullptr || args == nullptr) return;
  GrpcLogLine line;
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      line.severity = 'D';
      break;
    case GPR_LOG_SEVERITY_INFO:
      line.severity = 'I';
      break;
    default:
      line.severity = 'E';
  }
  absl::string_view file = args->file != nullptr ? args->file : "";
  const size_t slash = file.rfind('/');
  if (slash != absl::string_view::npos) file = file.substr(slash + 1);
  line.file = std::string(file);
  line.line = args->line;
  line.message = args->message != nullptr ? args->message : "";
  (*handler)(line);
}

}  // namespace

void RouteGrpcLogging(GrpcLogHandler handler) {
  {
    HandlerSlot& slot = Slot();
    absl::MutexLock lock(&slot.mu);
    slot.handler = std::make_shared<const GrpcLogHandler>(std::move(handler));
  }
  gpr_set_log_function(&Dispatch);
}

bool IsHandshakeFailureLine(const GrpcLogLine& line) {
  return absl::StrContains(line.message, "Handshake failed") ||
         absl::StrContains(line.message, "andshake fail") ||
         absl::StrContains(line.message, "Custom verification check failed") ||
         absl::StrContains(line.message, "certificate verify failed") ||
         absl::StrContains(line.message, "did not return a certificate") ||
         line.file == "ssl_transport_security.cc" || line.file == "security_handshaker.cc";
}

std::string FormatGrpcLogLine(absl::string_view program, const GrpcLogLine& line) {
  return absl::StrCat(program, ": grpc: ", absl::CHexEscape(line.message));
}

void QuietGrpcHandshakeLogging(absl::string_view program) {
  RouteGrpcLogging([program = std::string(program)](const GrpcLogLine& line) {
    if (IsHandshakeFailureLine(line)) return;
    std::cerr << FormatGrpcLogLine(program, line) << std::endl;
  });
}

}  // namespace acme_signer
