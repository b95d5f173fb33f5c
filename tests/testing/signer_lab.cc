#include "tests/testing/signer_lab.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "http/curl_http_client.h"

extern char** environ;

#ifndef ACME_SIGNER_BIN
#error "ACME_SIGNER_BIN must be defined to the path of the acme-signer binary"
#endif

namespace acme_signer::testing {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
constexpr char kProbeAgent[] = "lab-probe";
constexpr char kServingLine[] = "serving on";
constexpr char kPortMarker[] = "(port ";
constexpr char kReloadedLine[] = "configuration reloaded";
constexpr char kRefusedLine[] = "reload refused";

// A port on 127.0.0.1 that was free a moment ago (the OS picks it; another process could
// take it before the child binds, which is as good as tests on a shared machine get).
std::string Tail(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return absl::StrCat("...", text.substr(text.size() - max_bytes));
}

// A TOML basic string.
std::string TomlString(absl::string_view value) {
  return absl::StrCat("\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

std::string TomlStringArray(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const std::string& v : values) quoted.push_back(TomlString(v));
  return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
}

absl::Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("creating ", path));
  }
  return absl::OkStatus();
}

// Everything a child needs, prepared before fork(): the child of a multi-threaded parent may
// only make async-signal-safe calls.
struct ChildSpec {
  std::vector<std::string> argv;
  std::string stdin_path = "/dev/null";
  std::string stdout_path;
  std::string stderr_path;  // may equal stdout_path
  // Environment overrides ("NAME=value"), on top of the test process's environment.
  std::vector<std::string> env_overrides;
};

// The test process's environment with `overrides` ("NAME=value") replacing or adding entries.
std::vector<std::string> EnvironmentWith(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const absl::string_view entry(*e);
    const bool overridden =
        std::any_of(overrides.begin(), overrides.end(), [&](const std::string& o) {
          const size_t eq = o.find('=');
          return eq != std::string::npos && absl::StartsWith(entry, o.substr(0, eq + 1));
        });
    if (!overridden) env.emplace_back(entry);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

absl::StatusOr<pid_t> SpawnChild(const ChildSpec& spec) {
  std::vector<char*> argv;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::vector<std::string> env_strings = EnvironmentWith(spec.env_overrides);
  std::vector<char*> envp;
  for (const std::string& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  UniqueFd in(::open(spec.stdin_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return ErrnoStatus(errno, absl::StrCat("opening ", spec.stdin_path));
  UniqueFd out(
      ::open(spec.stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!out.valid()) return ErrnoStatus(errno, absl::StrCat("opening ", spec.stdout_path));
  UniqueFd err;
  if (spec.stderr_path != spec.stdout_path) {
    err = UniqueFd(
        ::open(spec.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!err.valid()) return ErrnoStatus(errno, absl::StrCat("opening ", spec.stderr_path));
  }
  const int err_fd = err.valid() ? err.get() : out.get();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus(errno, absl::StrCat("fork for ", spec.argv[0]));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (::dup2(in.get(), 0) < 0 || ::dup2(out.get(), 1) < 0 || ::dup2(err_fd, 2) < 0) {
      ::_exit(127);
    }
    // Descriptors the test process opened without O_CLOEXEC (gRPC, curl) must not leak.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

// Waits for `pid` until `deadline`; the exit code, or nullopt when it is still running.
std::optional<int> WaitFor(pid_t pid, absl::Time deadline) {
  while (true) {
    int wait_status = 0;
    const pid_t r = ::waitpid(pid, &wait_status, WNOHANG);
    if (r == pid) return ExitCodeOf(wait_status);
    if (r < 0 && errno != EINTR) return -1;  // not our child any more: treat as gone
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(kPollInterval);
  }
}

void KillAndReap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
}

size_t CountOccurrences(absl::string_view text, absl::string_view needle) {
  size_t count = 0;
  for (size_t pos = text.find(needle); pos != absl::string_view::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

std::string FileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path, 64 << 20);
  return content.ok() ? *content : std::string();
}

// The front door's upstream dns-01 hook (scripts/lab's write_dns01_hook): sets (present) or
// clears (cleanup) the TXT record in pebble-challtestsrv at `management`. It runs with a
// fixed environment (signer/frontdoor/upstream_issuer.h), so the address is written into it.
std::string Dns01HookScript(absl::string_view management) {
  return absl::StrCat(R"(#!/bin/sh
# Written by SignerLab (tests/testing/signer_lab.cc): acme-signer's upstream dns-01 hook,
# publishing TXT records in pebble-challtestsrv.
set -eu
name=${ACME_SIGNER_DNS01_NAME:?ACME_SIGNER_DNS01_NAME is not set}
case "$name" in
  *[!A-Za-z0-9._-]*) echo "dns01-hook: refusing the record name $name" >&2; exit 2 ;;
esac
case "${ACME_SIGNER_DNS01_ACTION:-}" in
  present)
    value=${ACME_SIGNER_DNS01_VALUE:?ACME_SIGNER_DNS01_VALUE is not set}
    case "$value" in
      *[!A-Za-z0-9_-]*) echo "dns01-hook: refusing the TXT value $value" >&2; exit 2 ;;
    esac
    endpoint=set-txt
    body="{\"host\":\"$name\",\"value\":\"$value\"}" ;;
  cleanup)
    endpoint=clear-txt
    body="{\"host\":\"$name\"}" ;;
  *)
    echo "dns01-hook: ACME_SIGNER_DNS01_ACTION must be present or cleanup" >&2; exit 2 ;;
esac
exec curl -sS --fail --max-time 10 --noproxy '*' -o /dev/null -X POST -d "$body" ")",
                      management, R"(/$endpoint"
)");
}

}  // namespace

std::vector<LabAgentPolicy> DefaultLabAgents() {
  LabAgentPolicy web1;
  web1.name = "web1";
  web1.allowed_names = {"web1.example.test", "*.web1.example.test"};
  LabAgentPolicy web2;
  web2.name = "web2";
  web2.allowed_names = {"web2.example.test"};
  return {web1, web2};
}

absl::Status SignerLab::ToolsAvailable() {
  RETURN_IF_ERROR(SoftHsmAvailable());
  return CheckPebbleTools();
}

absl::StatusOr<std::unique_ptr<SignerLab>> SignerLab::Start(Options options) {
  if (absl::Status tools = ToolsAvailable(); !tools.ok()) {
    return absl::FailedPreconditionError(tools.message());
  }
  std::unique_ptr<SignerLab> lab(new SignerLab(std::move(options)));
  RETURN_IF_ERROR(lab->Prepare());
  RETURN_IF_ERROR(lab->StartSigner());
  return lab;
}

absl::Status SignerLab::Prepare() {
  signer_binary_ = ACME_SIGNER_BIN;
  if (::access(signer_binary_.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the acme-signer binary ", signer_binary_, " is missing; build it first"));
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/acme-signer-lab-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("creating temp dir ", pattern));
  }
  dir_ = pattern;
  config_path_ = absl::StrCat(dir_, "/acme-signer.toml");
  state_dir_ = absl::StrCat(dir_, "/state");
  audit_log_path_ = absl::StrCat(dir_, "/audit/audit.log");
  agent_ca_path_ = absl::StrCat(dir_, "/tls/agent-ca.pem");
  agents_dir_ = absl::StrCat(dir_, "/agents");
  eab_key_path_ = absl::StrCat(dir_, "/eab-hmac.key");
  signer_log_path_ = absl::StrCat(dir_, "/signer.log");
  for (const char* sub : {"/state", "/audit", "/tls", "/agents"}) {
    RETURN_IF_ERROR(MakeDir(absl::StrCat(dir_, sub)));
  }

  // Token labels must be unique in the process (SoftHSM2's directory is per process).
  static std::atomic<int> lab_count{0};
  ASSIGN_OR_RETURN(token_, CreateSoftHsmToken(absl::StrCat("signer-lab-", lab_count++)));

  ASSIGN_OR_RETURN(uint16_t http_port, FreeLoopbackPort());
  PebbleEnv::Options pebble_options;
  pebble_options.http_port = http_port;
  pebble_options.extra_env = options_.pebble_env;
  for (const LabAccount& account : options_.accounts) {
    if (account.eab_kid != pebble_options.eab_kid &&
        std::find(pebble_options.extra_eab_kids.begin(), pebble_options.extra_eab_kids.end(),
                  account.eab_kid) == pebble_options.extra_eab_kids.end()) {
      pebble_options.extra_eab_kids.push_back(account.eab_kid);
    }
  }
  ASSIGN_OR_RETURN(pebble_, PebbleEnv::Start(pebble_options));
  acme_.directory_url = pebble_->directory_url();
  acme_.ca_bundle = pebble_->ca_bundle_path();
  if (options_.acme_endpoint) RETURN_IF_ERROR(options_.acme_endpoint(*pebble_, acme_));

  // The single signer, or the replicas r1..rN (fixed ports: the agents' target names them).
  const int serve_count = options_.replicas > 0 ? options_.replicas : 1;
  for (int i = 0; i < serve_count; ++i) {
    ServeProcess serve;
    if (options_.replicas > 0) {
      serve.name = absl::StrCat("r", i + 1);
      serve.config_path = absl::StrCat(dir_, "/", serve.name, ".toml");
      serve.log_path = absl::StrCat(dir_, "/", serve.name, ".log");
      ASSIGN_OR_RETURN(serve.port, FreeLoopbackPort());
    } else {
      serve.name = "signer";
      serve.config_path = config_path_;
      serve.log_path = signer_log_path_;
    }
    if (options_.enroll_listener) {
      ASSIGN_OR_RETURN(serve.enroll_port, FreeLoopbackPort());
    }
    if (options_.metrics_listener) {
      ASSIGN_OR_RETURN(serve.metrics_port, FreeLoopbackPort());
    }
    if (options_.front_door.has_value()) {
      ASSIGN_OR_RETURN(serve.front_door_port, FreeLoopbackPort());
    }
    serves_.push_back(std::move(serve));
  }
  signer_log_path_ = serves_.front().log_path;
  if (options_.replicas > 0) {
    // Short: the cluster's Unix socket path must fit in 107 bytes.
    ASSIGN_OR_RETURN(postgres_, PostgresCluster::Start(absl::StrCat(dir_, "/pg")));
  }
  if (options_.front_door.has_value()) {
    if (options_.front_door->challtestsrv_dns01_hook) {
      dns01_hook_path_ = absl::StrCat(dir_, "/dns01-hook");
      RETURN_IF_ERROR(WriteFileAtomically(
          dns01_hook_path_, Dns01HookScript(pebble_->challtestsrv_url()), 0755));
    }
  }

  RETURN_IF_ERROR(RewriteConfig(options_.agents));
  // One init per account (each imports its own EAB key); the single [acme] form as before.
  std::vector<std::pair<std::string, std::string>> inits;  // (account or "", kid)
  if (options_.accounts.empty()) {
    inits.emplace_back("", pebble_->eab_kid());
  } else {
    for (const LabAccount& account : options_.accounts) {
      inits.emplace_back(account.name, account.eab_kid);
    }
  }
  for (const auto& [account, kid] : inits) {
    RETURN_IF_ERROR(
        WriteFileAtomically(eab_key_path_, pebble_->eab_hmac_key_b64url_for(kid), 0600));
    std::vector<std::string> argv = {"init", "--config", config_path_, "--eab-kid", kid,
                                     "--eab-hmac-key-file", eab_key_path_};
    if (!account.empty()) {
      argv.push_back("--account");
      argv.push_back(account);
    }
    ASSIGN_OR_RETURN(CommandResult init, RunSignerCommand(argv));
    if (init.exit_code != 0) {
      return absl::InternalError(absl::StrCat("acme-signer init", account.empty() ? "" : " --account ",
                                              account, " exited ", init.exit_code, ": ", init.err,
                                              init.out, "\nPebble:\n", pebble_->LogTail()));
    }
  }
  RETURN_IF_ERROR(EnrollAgent(kProbeAgent).status());
  for (const std::string& name : options_.enroll) RETURN_IF_ERROR(EnrollAgent(name).status());
  if (options_.replicas > 0) RETURN_IF_ERROR(PrepareReplicas());
  return absl::OkStatus();
}

absl::Status SignerLab::PrepareReplicas() {
  ASSIGN_OR_RETURN(std::string softhsm_dir, SoftHsmDir());
  for (ServeProcess& serve : serves_) {
    const std::string base = absl::StrCat(dir_, "/", serve.name);
    for (const std::string& sub :
         {base, absl::StrCat(base, "/state"), absl::StrCat(base, "/hsm")}) {
      RETURN_IF_ERROR(MakeDir(sub));
    }
    // After init: the copy holds every key init made.
    const std::string tokens = absl::StrCat(base, "/hsm/tokens");
    std::error_code error;
    std::filesystem::copy(absl::StrCat(softhsm_dir, "/tokens"), tokens,
                          std::filesystem::copy_options::recursive, error);
    if (error) {
      return absl::InternalError(absl::StrCat("copying the SoftHSM2 token directory for replica ",
                                              serve.name, ": ", error.message()));
    }
    serve.softhsm_conf = absl::StrCat(base, "/hsm/softhsm2.conf");
    RETURN_IF_ERROR(
        WriteFileAtomically(serve.softhsm_conf,
                            absl::StrCat("directories.tokendir = ", tokens,
                                         "\nobjectstore.backend = file\nlog.level = ERROR\n"),
                            0600));
  }
  return RewriteConfig(options_.agents);
}

SignerLab::~SignerLab() {
  for (ServeProcess& serve : serves_) {
    if (serve.pid > 0) KillAndReap(serve.pid);
    serve.pid = -1;
  }
  pebble_.reset();
  postgres_.reset();
  if (dir_.empty()) return;
  const char* keep = std::getenv("ACME_SIGNER_KEEP_TEST_DIRS");
  if (keep != nullptr && std::strcmp(keep, "1") == 0) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string SignerLab::signer_address() const {
  return absl::StrCat("127.0.0.1:", serves_.empty() ? 0 : serves_.front().port);
}

bool SignerLab::signer_running() const {
  return std::any_of(serves_.begin(), serves_.end(),
                     [](const ServeProcess& serve) { return serve.pid > 0; });
}

absl::Status SignerLab::CheckReplicaIndex(int i) const {
  if (i < 0 || i >= static_cast<int>(serves_.size()) || (i > 0 && options_.replicas == 0)) {
    return absl::OutOfRangeError(
        absl::StrCat("no replica ", i, " in a lab of ", options_.replicas, " replica(s)"));
  }
  return absl::OkStatus();
}

absl::Status SignerLab::StartReplica(int i) {
  RETURN_IF_ERROR(CheckReplicaIndex(i));
  return StartServe(serves_[i]);
}

absl::StatusOr<int> SignerLab::StopReplica(int i, bool kill) {
  RETURN_IF_ERROR(CheckReplicaIndex(i));
  return StopServe(serves_[i], kill);
}

bool SignerLab::replica_running(int i) const {
  return CheckReplicaIndex(i).ok() && serves_[i].pid > 0;
}

pid_t SignerLab::replica_pid(int i) const {
  return CheckReplicaIndex(i).ok() ? serves_[i].pid : -1;
}

std::string SignerLab::replica_address(int i) const {
  if (!CheckReplicaIndex(i).ok()) return "";
  return absl::StrCat("127.0.0.1:", serves_[i].port);
}

std::string SignerLab::ReplicaLog(int i) const {
  return CheckReplicaIndex(i).ok() ? FileOrEmpty(serves_[i].log_path) : std::string();
}

std::string SignerLab::ReplicaLogTail(int i, size_t max_bytes) const {
  return Tail(ReplicaLog(i), max_bytes);
}

std::string SignerLab::replica_config_path(int i) const {
  return CheckReplicaIndex(i).ok() ? serves_[i].config_path : std::string();
}

std::string SignerLab::signer_target() const {
  if (options_.replicas == 0) return signer_address();
  std::vector<std::string> addresses;
  for (const ServeProcess& serve : serves_) {
    addresses.push_back(absl::StrCat("127.0.0.1:", serve.port));
  }
  return absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
}

std::string SignerLab::signer_server_name() const {
  return options_.replicas > 0 ? "localhost" : "";
}

std::string SignerLab::ServeLogTail(const ServeProcess& serve, size_t max_bytes) const {
  return Tail(FileOrEmpty(serve.log_path), max_bytes);
}

absl::StatusOr<bool> SignerLab::Serving(int i) const {
  RETURN_IF_ERROR(CheckReplicaIndex(i));
  ASSIGN_OR_RETURN(agent::SignerConnection probe, ConnectionTo(kProbeAgent, i));
  grpc::SslCredentialsOptions ssl;
  ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(probe.ca_cert));
  ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(probe.client_cert));
  ASSIGN_OR_RETURN(Secret key, ReadSecretFile(probe.client_key));
  ssl.pem_private_key = std::string(key.reveal());
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("127.0.0.1");
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(probe.address, grpc::SslCredentials(ssl), args);
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest (service ""), as raw bytes,
  // as bench/signjws_bench.cc does: the health proto is not part of the project.
  const grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                         grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Slice empty;  // a ByteBuffer must hold a slice, even an empty one
  grpc::ByteBuffer request(&empty, 1), response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), method, &context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("health check of ", probe.address, " failed: ", status.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("unreadable health response");
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  // HealthCheckResponse { ServingStatus status = 1; }: SERVING = 1, NOT_SERVING = 2.
  if (bytes == std::string("\x08\x01", 2)) return true;
  if (bytes == std::string("\x08\x02", 2)) return false;
  return absl::InternalError(
      absl::StrCat("unexpected health response of ", probe.address, " (", bytes.size(), " bytes)"));
}

std::string SignerLab::enroll_address() const {
  if (!options_.enroll_listener) return "";
  return absl::StrCat("127.0.0.1:", serves_.front().enroll_port);
}

std::string SignerLab::metrics_url() const {
  if (!options_.metrics_listener) return "";
  return absl::StrCat("http://127.0.0.1:", serves_.front().metrics_port, "/metrics");
}

std::string SignerLab::account_directory_url(absl::string_view name) const {
  if (options_.accounts.empty()) return name == "default" ? acme_.directory_url : "";
  for (const LabAccount& account : options_.accounts) {
    if (account.name != name) continue;
    std::string url = acme_.directory_url;
    if (account.host != "127.0.0.1") {
      url = absl::StrReplaceAll(url, {{"//127.0.0.1:", absl::StrCat("//", account.host, ":")}});
    }
    return url;
  }
  return "";
}

// The [acme] section, or one [[accounts]] entry per lab account.
std::string SignerLab::AccountsToml() const {
  if (options_.accounts.empty()) {
    return absl::StrCat("\n[acme]\n"
                        "directory_url = ",
                        TomlString(acme_.directory_url), "\n",
                        "ca_bundle = ", TomlString(acme_.ca_bundle), "\n", acme_.extra_toml,
                        "eab_kid = ", TomlString(pebble_->eab_kid()), "\n",
                        "contact = [\"mailto:pki@dept.example\"]\n"
                        "terms_of_service_agreed = true\n");
  }
  std::string text;
  for (const LabAccount& account : options_.accounts) {
    absl::StrAppend(&text, "\n[[accounts]]\nname = ", TomlString(account.name), "\n",
                    "directory_url = ", TomlString(account_directory_url(account.name)), "\n",
                    "ca_bundle = ", TomlString(acme_.ca_bundle), "\n", acme_.extra_toml,
                    "eab_kid = ", TomlString(account.eab_kid), "\n",
                    "key_type = ", TomlString(account.key_type), "\n",
                    "contact = [\"mailto:pki@dept.example\"]\n"
                    "terms_of_service_agreed = true\n");
  }
  return text;
}

std::string SignerLab::ConfigText(const std::vector<LabAgentPolicy>& agents) const {
  return ServeConfigText(agents, nullptr);
}

std::string SignerLab::ServeConfigText(const std::vector<LabAgentPolicy>& agents,
                                       const ServeProcess* serve) const {
  // The admin config of a replicated lab never serves; its ports are r1's, so the URLs it
  // prints (enroll-client) are r1's.
  const ServeProcess& ports = serve != nullptr ? *serve : serves_.front();
  const bool replicated = options_.replicas > 0;
  // Each replica has its own state dir (its serve pid file) and audit file; the shared state is
  // in the database.
  const std::string local_dir = serve != nullptr ? absl::StrCat(serve->name, "/") : "";
  std::string state = absl::StrCat("dir = ", TomlString(absl::StrCat(local_dir, "state")), "\n");
  if (replicated) {
    absl::StrAppend(&state, "backend = \"postgresql\"\nurl = ", TomlString(postgres_->conninfo()),
                    "\nreplica = ", TomlString(serve != nullptr ? serve->name : "admin"), "\n");
  }
  std::string text = absl::StrCat(
      "# Written by SignerLab (tests/testing/signer_lab.cc).\n"
      "[server]\n"
      "listen = ",
      TomlString(absl::StrCat("127.0.0.1:", serve != nullptr ? serve->port : 0)), "\n",
      "tls_cert = \"tls/server.pem\"\n"
      "tls_key = \"tls/server.key\"\n"
      "agent_ca_cert = \"tls/agent-ca.pem\"\n"
      "trust_domain = ",
      TomlString(options_.trust_domain), "\n",
      "# Tests run as root in CI.\n"
      "allow_root = true\n",
      options_.enroll_listener
          ? absl::StrCat(
                "enroll_listen = ", TomlString(absl::StrCat("127.0.0.1:", ports.enroll_port)), "\n")
          : std::string(),
      AccountsToml(),
      "\n[hsm]\n"
      "module = ",
      TomlString(kSoftHsmModule), "\n", "token_uri = ", TomlString(token_.uri), "\n",
      "pin_file = ", TomlString(token_.pin_file), "\n", "\n[state]\n", state, "\n[audit]\n",
      // With PostgreSQL the one chain of every replica is in the database, and `log` is refused.
      replicated
          ? std::string()
          : absl::StrCat("log = ", TomlString(absl::StrCat(local_dir, "audit/audit.log")), "\n"),
      "checkpoint_every = ", options_.checkpoint_every, "\n");
  if (options_.metrics_listener) {
    absl::StrAppend(&text, "\n[metrics]\nlisten = ",
                    TomlString(absl::StrCat("127.0.0.1:", ports.metrics_port)), "\n");
  }
  if (options_.front_door.has_value()) {
    // init makes the TLS files, issued by the agent CA (tls/agent-ca.pem).
    absl::StrAppend(&text, "\n[acme_server]\nlisten = ",
                    TomlString(absl::StrCat("127.0.0.1:", ports.front_door_port)), "\n",
                    "external_url = ",
                    TomlString(front_door_external_url_.empty()
                                   ? absl::StrCat("https://127.0.0.1:", ports.front_door_port)
                                   : front_door_external_url_),
                    "\n",
                    "tls_certificate = \"tls/front-door.pem\"\n"
                    "tls_private_key = \"tls/front-door.key\"\n"
                    "validation_resolver = ",
                    TomlString(absl::StrCat("127.0.0.1:", pebble_->dns_port())), "\n",
                    "validation_http_port = ", pebble_->http_port(), "\n",
                    "validation_allowed_networks = [\"127.0.0.0/8\"]\n");
    if (!dns01_hook_path_.empty()) {
      absl::StrAppend(&text, "upstream_dns01_hook = ", TomlString(dns01_hook_path_), "\n");
    }
  }
  for (const LabAgentPolicy& agent : agents) {
    absl::StrAppend(
        &text, "\n[[agents]]\nname = ", TomlString(agent.name), "\n",
        "allowed_names = ", TomlStringArray(agent.allowed_names), "\n",
        "allow_wildcard_certificates = ", agent.allow_wildcard_certificates ? "true" : "false",
        "\n", "orders_per_hour = ", agent.orders_per_hour, "\n",
        "max_identifiers_per_order = ", agent.max_identifiers_per_order, "\n",
        "allow_sign_jws = ", agent.allow_sign_jws ? "true" : "false", "\n",
        "front_door = ", agent.front_door ? "true" : "false", "\n");
    if (!agent.accounts.empty()) {
      absl::StrAppend(&text, "accounts = ", TomlStringArray(agent.accounts), "\n");
    }
    if (!agent.default_account.empty()) {
      absl::StrAppend(&text, "default_account = ", TomlString(agent.default_account), "\n");
    }
  }
  return text;
}

absl::Status SignerLab::RewriteConfig(const std::vector<LabAgentPolicy>& agents) {
  if (options_.replicas > 0) {
    for (const ServeProcess& serve : serves_) {
      RETURN_IF_ERROR(
          WriteFileAtomically(serve.config_path, ServeConfigText(agents, &serve), 0600));
    }
  }
  return WriteRawConfig(ConfigText(agents));
}

absl::Status SignerLab::WriteRawConfig(absl::string_view text) {
  return WriteFileAtomically(config_path_, text, 0600);
}

absl::StatusOr<CommandResult> SignerLab::RunSignerCommand(
    const std::vector<std::string>& args) const {
  static std::atomic<int> command_count{0};
  const int n = command_count++;
  ChildSpec spec;
  spec.argv.push_back(signer_binary_);
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.stdout_path = absl::StrCat(dir_, "/command-", n, ".out");
  spec.stderr_path = absl::StrCat(dir_, "/command-", n, ".err");
  ASSIGN_OR_RETURN(pid_t pid, SpawnChild(spec));
  std::optional<int> exit_code = WaitFor(pid, absl::Now() + options_.timeout);
  CommandResult result;
  result.out = FileOrEmpty(spec.stdout_path);
  result.err = FileOrEmpty(spec.stderr_path);
  ::unlink(spec.stdout_path.c_str());
  ::unlink(spec.stderr_path.c_str());
  if (!exit_code.has_value()) {
    KillAndReap(pid);
    return absl::DeadlineExceededError(
        absl::StrCat("acme-signer ", absl::StrJoin(args, " "), " did not finish in ",
                     absl::FormatDuration(options_.timeout), ": ", Tail(result.err, 2048)));
  }
  result.exit_code = *exit_code;
  return result;
}

absl::StatusOr<agent::SignerConnection> SignerLab::EnrollAgent(absl::string_view name) {
  const std::string base = absl::StrCat(agents_dir_, "/", name);
  ASSIGN_OR_RETURN(agent::PrivateKey key, agent::PrivateKey::Generate(agent::KeySpec()));
  ASSIGN_OR_RETURN(Secret key_pem, key.ToPem());
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(base, ".key"), key_pem.reveal(), 0600));
  ASSIGN_OR_RETURN(std::string csr_der, agent::BuildAgentCsrDer(key, options_.trust_domain, name));
  ASSIGN_OR_RETURN(std::string csr_pem, agent::CsrDerToPem(csr_der));
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(base, ".csr"), csr_pem, 0644));
  ASSIGN_OR_RETURN(
      CommandResult enroll,
      RunSignerCommand({"enroll-agent", "--config", config_path_, "--name", std::string(name),
                        "--csr", absl::StrCat(base, ".csr"), "--out", absl::StrCat(base, ".pem")}));
  if (enroll.exit_code != 0) {
    return absl::InternalError(absl::StrCat("acme-signer enroll-agent --name ", name, " exited ",
                                            enroll.exit_code, ": ", enroll.err));
  }
  agent::SignerConnection connection;
  connection.ca_cert = agent_ca_path_;
  connection.client_cert = absl::StrCat(base, ".pem");
  connection.client_key = absl::StrCat(base, ".key");
  connection.call_timeout = absl::Seconds(30);
  bool known = false;
  for (auto& [existing, conn] : agents_) {
    if (existing == name) {
      conn = connection;
      known = true;
    }
  }
  if (!known) agents_.emplace_back(std::string(name), connection);
  return Connection(name);
}

absl::StatusOr<agent::SignerConnection> SignerLab::Connection(absl::string_view name) const {
  for (const auto& [existing, conn] : agents_) {
    if (existing != name) continue;
    agent::SignerConnection current = conn;
    current.address = signer_target();
    current.server_name = signer_server_name();
    return current;
  }
  return absl::NotFoundError(absl::StrCat("agent ", name, " was not enrolled in this lab"));
}

absl::StatusOr<agent::SignerConnection> SignerLab::ConnectionTo(absl::string_view name,
                                                                int i) const {
  RETURN_IF_ERROR(CheckReplicaIndex(i));
  ASSIGN_OR_RETURN(agent::SignerConnection connection, Connection(name));
  connection.address = absl::StrCat("127.0.0.1:", serves_[i].port);
  connection.server_name = "";
  return connection;
}

absl::StatusOr<std::unique_ptr<agent::SignerClient>> SignerLab::Client(
    absl::string_view name) const {
  ASSIGN_OR_RETURN(agent::SignerConnection connection, Connection(name));
  return agent::SignerClient::Connect(connection);
}

absl::Status SignerLab::StartSigner() {
  if (options_.replicas == 0) return StartServe(serves_.front());
  for (ServeProcess& serve : serves_) {
    if (serve.pid <= 0) RETURN_IF_ERROR(StartServe(serve));
  }
  return absl::OkStatus();
}

absl::Status SignerLab::StartServe(ServeProcess& serve) {
  if (serve.pid > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("acme-signer ", serve.name, " is already running"));
  }
  const size_t log_offset = FileOrEmpty(serve.log_path).size();
  ChildSpec spec;
  spec.argv = {signer_binary_, "serve", "--config", serve.config_path};
  spec.stdout_path = serve.log_path;
  spec.stderr_path = serve.log_path;
  if (!serve.softhsm_conf.empty()) {
    spec.env_overrides.push_back(absl::StrCat("SOFTHSM2_CONF=", serve.softhsm_conf));
  }
  ASSIGN_OR_RETURN(serve.pid, SpawnChild(spec));
  absl::Status ready = WaitUntilServing(serve, log_offset);
  if (ready.ok() && options_.enroll_listener) {
    // serve opens the enrolment listener after the mTLS one and then says so.
    const absl::Time deadline = absl::Now() + options_.timeout;
    while (true) {
      const std::string log = FileOrEmpty(serve.log_path);
      if (log.size() > log_offset &&
          absl::string_view(log).substr(log_offset).find("token enrolment on") !=
              absl::string_view::npos) {
        break;
      }
      if (WaitFor(serve.pid, absl::Now()).has_value()) {
        serve.pid = -1;
        ready = absl::UnavailableError(
            absl::StrCat("acme-signer serve exited before its enrolment listener served:\n",
                         ServeLogTail(serve)));
        break;
      }
      if (absl::Now() >= deadline) {
        ready = absl::UnavailableError(
            absl::StrCat("acme-signer serve did not report its enrolment listener in time:\n",
                         ServeLogTail(serve)));
        break;
      }
      absl::SleepFor(kPollInterval);
    }
  }
  if (ready.ok() && options_.metrics_listener) {
    // serve opens the metrics listener right after the mTLS one and then says so.
    const absl::Time deadline = absl::Now() + options_.timeout;
    while (true) {
      const std::string log = FileOrEmpty(serve.log_path);
      if (log.size() > log_offset &&
          absl::string_view(log).substr(log_offset).find("metrics on http://") !=
              absl::string_view::npos) {
        break;
      }
      if (WaitFor(serve.pid, absl::Now()).has_value()) {
        serve.pid = -1;
        ready = absl::UnavailableError(absl::StrCat(
            "acme-signer serve exited before its metrics listener served:\n", ServeLogTail(serve)));
        break;
      }
      if (absl::Now() >= deadline) {
        ready = absl::UnavailableError(
            absl::StrCat("acme-signer serve did not report its metrics listener in time:\n",
                         ServeLogTail(serve)));
        break;
      }
      absl::SleepFor(kPollInterval);
    }
  }
  if (ready.ok() && options_.front_door.has_value()) {
    ready = WaitForFrontDoor(serve, absl::Now() + options_.timeout);
  }
  if (!ready.ok() && serve.pid > 0) {
    KillAndReap(serve.pid);
    serve.pid = -1;
  }
  return ready;
}

absl::Status SignerLab::WaitUntilServing(ServeProcess& serve, size_t log_offset) {
  const absl::Time deadline = absl::Now() + options_.timeout;
  // Phase 1: the process says it serves (the port is bound once it prints this).
  while (true) {
    std::optional<int> exited = WaitFor(serve.pid, absl::Now());
    if (exited.has_value()) {
      serve.pid = -1;
      return absl::UnavailableError(absl::StrCat("acme-signer serve (", serve.name,
                                                 ") exited with ", *exited, " before serving:\n",
                                                 ServeLogTail(serve)));
    }
    const std::string log = FileOrEmpty(serve.log_path);
    const absl::string_view fresh =
        log.size() > log_offset ? absl::string_view(log).substr(log_offset) : "";
    const size_t serving = fresh.find(kServingLine);
    const size_t port_at =
        serving == absl::string_view::npos ? serving : fresh.find(kPortMarker, serving);
    const size_t port_end = port_at == absl::string_view::npos ? port_at : fresh.find(')', port_at);
    if (port_end != absl::string_view::npos) {
      const absl::string_view digits =
          fresh.substr(port_at + strlen(kPortMarker), port_end - port_at - strlen(kPortMarker));
      uint32_t port = 0;
      if (!absl::SimpleAtoi(digits, &port) || port == 0 || port > 65535) {
        return absl::InternalError(
            absl::StrCat("cannot read the port from the signer's log:\n", ServeLogTail(serve)));
      }
      serve.port = static_cast<uint16_t>(port);
      break;
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("acme-signer serve (", serve.name,
                                                 ") did not report serving in time:\n",
                                                 ServeLogTail(serve)));
    }
    absl::SleepFor(kPollInterval);
  }
  // Phase 2: an mTLS handshake completes (no RPC, so nothing is audited).
  ASSIGN_OR_RETURN(agent::SignerConnection probe, Connection(kProbeAgent));
  probe.address = absl::StrCat("127.0.0.1:", serve.port);
  grpc::SslCredentialsOptions ssl;
  ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(probe.ca_cert));
  ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(probe.client_cert));
  ASSIGN_OR_RETURN(Secret key, ReadSecretFile(probe.client_key));
  ssl.pem_private_key = std::string(key.reveal());
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("127.0.0.1");
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(probe.address, grpc::SslCredentials(ssl), args);
  while (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(1)))) {
    if (WaitFor(serve.pid, absl::Now()).has_value()) {
      serve.pid = -1;
      return absl::UnavailableError(absl::StrCat("acme-signer serve (", serve.name,
                                                 ") exited during the handshake check:\n",
                                                 ServeLogTail(serve)));
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("no mTLS handshake with acme-signer at ",
                                                 probe.address, " in time:\n",
                                                 ServeLogTail(serve)));
    }
  }
  return absl::OkStatus();
}

absl::Status SignerLab::WaitForFrontDoor(ServeProcess& serve, absl::Time deadline) {
  http::CurlHttpClientOptions client_options;
  client_options.ca_bundle_path = agent_ca_path_;
  client_options.total_timeout = absl::Seconds(5);
  ASSIGN_OR_RETURN(std::unique_ptr<http::CurlHttpClient> client,
                   http::CurlHttpClient::Create(client_options));
  http::HttpRequest request;
  request.method = http::HttpMethod::kGet;
  request.url = absl::StrCat("https://127.0.0.1:", serve.front_door_port, "/directory");
  std::string last;
  while (true) {
    absl::StatusOr<http::HttpResponse> response = client->Do(request);
    if (response.ok() && response->status == 200) return absl::OkStatus();
    last = response.ok() ? absl::StrCat("status ", response->status, ": ",
                                        Tail(response->body, 512))
                         : std::string(response.status().message());
    if (WaitFor(serve.pid, absl::Now()).has_value()) {
      serve.pid = -1;
      return absl::UnavailableError(absl::StrCat(
          "acme-signer serve exited before its front door served:\n", ServeLogTail(serve)));
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("the front door's directory ", request.url,
                                                 " did not answer 200 in time (", last, "):\n",
                                                 ServeLogTail(serve)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

std::string SignerLab::front_door_origin(int i) const {
  if (!options_.front_door.has_value() || !CheckReplicaIndex(i).ok()) return "";
  return absl::StrCat("https://127.0.0.1:", serves_[i].front_door_port);
}

absl::Status SignerLab::SetFrontDoorExternalUrl(std::string url) {
  if (!options_.front_door.has_value()) {
    return absl::FailedPreconditionError("this lab has no front door (Options::front_door)");
  }
  front_door_external_url_ = std::move(url);
  return RewriteConfig(options_.agents);
}

std::string SignerLab::front_door_directory_url() const {
  if (!options_.front_door.has_value()) return "";
  return absl::StrCat("https://127.0.0.1:", serves_.front().front_door_port, "/directory");
}

absl::StatusOr<FrontDoorCredential> SignerLab::EnrollFrontDoorClient(
    absl::string_view name, absl::string_view account) const {
  if (!options_.front_door.has_value()) {
    return absl::FailedPreconditionError("this lab has no front door (Options::front_door)");
  }
  std::vector<std::string> args = {"enroll-client", "--config",        config_path_,
                                   "--name",        std::string(name), "--json"};
  if (!account.empty()) {
    args.push_back("--account");
    args.push_back(std::string(account));
  }
  ASSIGN_OR_RETURN(CommandResult enroll, RunSignerCommand(args));
  if (enroll.exit_code != 0) {
    return absl::InternalError(absl::StrCat("acme-signer enroll-client --name ", name,
                                            " exited ", enroll.exit_code, ": ", enroll.err));
  }
  nlohmann::json json = nlohmann::json::parse(enroll.out, nullptr, /*allow_exceptions=*/false);
  FrontDoorCredential credential;
  if (json.is_object() && json.size() == 4) {
    for (auto [key, field] :
         {std::pair{"directory_url", &credential.directory_url},
          std::pair{"account", &credential.account}, std::pair{"eab_kid", &credential.eab_kid},
          std::pair{"eab_hmac_key", &credential.eab_hmac_key}}) {
      if (json.contains(key) && json[key].is_string()) *field = json[key].get<std::string>();
    }
  }
  if (credential.directory_url.empty() || credential.account.empty() ||
      credential.eab_kid.empty() || credential.eab_hmac_key.empty()) {
    // The output holds the HMAC key: only its shape goes into the message.
    return absl::InternalError(absl::StrCat(
        "acme-signer enroll-client --name ", name,
        " --json did not print an object with exactly directory_url, account, eab_kid, "
        "eab_hmac_key (",
        enroll.out.size(), " bytes on stdout)"));
  }
  return credential;
}

absl::StatusOr<int> SignerLab::StopSigner(bool kill) {
  if (options_.replicas == 0) return StopServe(serves_.front(), kill);
  if (!signer_running()) return absl::FailedPreconditionError("no replica is running");
  int last = 0;
  for (ServeProcess& serve : serves_) {
    if (serve.pid <= 0) continue;
    ASSIGN_OR_RETURN(last, StopServe(serve, kill));
  }
  return last;
}

absl::StatusOr<int> SignerLab::StopServe(ServeProcess& serve, bool kill) {
  if (serve.pid <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("acme-signer ", serve.name, " is not running"));
  }
  const pid_t pid = serve.pid;
  ::kill(pid, kill ? SIGKILL : SIGTERM);
  std::optional<int> exit_code = WaitFor(pid, absl::Now() + options_.timeout);
  serve.pid = -1;
  if (!exit_code.has_value()) {
    KillAndReap(pid);
    return absl::DeadlineExceededError(absl::StrCat(
        "acme-signer ", serve.name, " did not exit within ", absl::FormatDuration(options_.timeout),
        " of SIGTERM (killed):\n", ServeLogTail(serve)));
  }
  return *exit_code;
}

absl::Status SignerLab::ReloadSigner() {
  if (options_.replicas > 0) {
    return absl::UnimplementedError("ReloadSigner is for a lab with one signer");
  }
  const pid_t signer_pid = serves_.front().pid;
  if (signer_pid <= 0) return absl::FailedPreconditionError("the signer is not running");
  const std::string before = SignerLog();
  const size_t reloaded = CountOccurrences(before, kReloadedLine);
  const size_t refused = CountOccurrences(before, kRefusedLine);
  if (::kill(signer_pid, SIGHUP) != 0) return ErrnoStatus(errno, "kill(SIGHUP)");
  const absl::Time deadline = absl::Now() + options_.timeout;
  while (absl::Now() < deadline) {
    const std::string log = SignerLog();
    if (CountOccurrences(log, kReloadedLine) > reloaded) return absl::OkStatus();
    if (CountOccurrences(log, kRefusedLine) > refused) {
      const size_t at = log.rfind(kRefusedLine);
      return absl::FailedPreconditionError(absl::StrCat("acme-signer: ", log.substr(at)));
    }
    absl::SleepFor(kPollInterval);
  }
  return absl::DeadlineExceededError(
      absl::StrCat("acme-signer logged no reload verdict after SIGHUP:\n", SignerLogTail()));
}

absl::StatusOr<std::vector<nlohmann::json>> SignerLab::ReadAuditRecords() const {
  std::vector<nlohmann::json> records;
  if (options_.replicas > 0) {
    // The one chain of every replica is in the database: what `audit export` writes.
    ASSIGN_OR_RETURN(CommandResult exported,
                     RunSignerCommand({"audit", "export", "--config", config_path_}));
    if (exported.exit_code != 0) {
      return absl::InternalError(
          absl::StrCat("acme-signer audit export exited ", exported.exit_code, ": ", exported.err));
    }
    int line_no = 0;
    for (absl::string_view line : absl::StrSplit(exported.out, '\n', absl::SkipEmpty())) {
      ++line_no;
      nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_discarded() || !record.is_object()) {
        return absl::DataLossError(
            absl::StrCat("audit export line ", line_no, ": not a JSON object: ", Tail(line, 200)));
      }
      records.push_back(std::move(record));
    }
    return records;
  }
  for (int index = 0;; ++index) {
    const std::string path =
        index == 0 ? audit_log_path_ : absl::StrCat(audit_log_path_, ".", index);
    if (::access(path.c_str(), F_OK) != 0) {
      if (index == 0) return absl::NotFoundError(absl::StrCat("no audit log at ", path));
      break;
    }
    ASSIGN_OR_RETURN(std::string content, ReadFile(path, 256 << 20));
    int line_no = 0;
    for (absl::string_view line : absl::StrSplit(content, '\n', absl::SkipEmpty())) {
      ++line_no;
      nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_discarded() || !record.is_object()) {
        return absl::DataLossError(
            absl::StrCat(path, ":", line_no, ": not a JSON object: ", Tail(line, 200)));
      }
      records.push_back(std::move(record));
    }
  }
  return records;
}

std::string SignerLab::SignerLog() const { return FileOrEmpty(signer_log_path_); }

std::string SignerLab::SignerLogTail(size_t max_bytes) const {
  return Tail(SignerLog(), max_bytes);
}

absl::StatusOr<std::string> SignerLab::PebbleRootPem() const {
  return pebble_->FetchRootCertificatePem();
}

}  // namespace acme_signer::testing
