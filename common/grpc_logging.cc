#include "common/grpc_logging.h"

#include <grpc/support/log.h>

#include <iostream>
#include <memory>
#include <mutex>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace acme_signer {
namespace {

std::mutex& HandlerMutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}

std::shared_ptr<const GrpcLogHandler>& Handler() {
  static auto* handler = new std::shared_ptr<const GrpcLogHandler>();
  return *handler;
}

void Dispatch(gpr_log_func_args* args) {
  std::shared_ptr<const GrpcLogHandler> handler;
  {
    std::lock_guard<std::mutex> lock(HandlerMutex());
    handler = Handler();
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
    std::lock_guard<std::mutex> lock(HandlerMutex());
    Handler() = std::make_shared<const GrpcLogHandler>(std::move(handler));
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
