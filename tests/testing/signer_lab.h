// SignerLab: a complete acme-signer deployment in a temp dir, run as REAL processes, for
// end-to-end tests: a SoftHSM2 token, Pebble (EAB required) with its mock DNS, a signer TOML
// config, `acme-signer init`, agents enrolled with `acme-signer enroll-agent`, and
// `acme-signer serve` as a child process.
//
// What Start() does, in order:
//  1. creates a SoftHSM2 token (tests/testing/softhsm_token.h; this sets SOFTHSM2_CONF in the
//     test process, which every child inherits). The test process itself never loads the
//     PKCS#11 module, so tokens may be created at any time;
//  2. starts PebbleEnv with httpPort = a free loopback port that the test's http-01 responder
//     binds (http_port()), plus Options::pebble_env;
//  3. writes <dir>/acme-signer.toml (listen 127.0.0.1:0, every path inside the temp
//     dir, acme.directory_url = Pebble, acme.ca_bundle = Pebble's TLS certificate (unless
//     Options::acme_endpoint changes them), eab_kid,
//     server.allow_root = true because CI runs tests as root, Options::agents as [[agents]]),
//     and the EAB HMAC key to a 0600 file;
//  4. runs `acme-signer init --config ... --eab-kid ... --eab-hmac-key-file ...`;
//  5. enrolls Options::enroll agents (and an internal "lab-probe" identity used only for the
//     readiness check): key and CSR made in-process (agent/csr.h, agent/private_key.h), then
//     `acme-signer enroll-agent`;
//  5b. with Options::front_door, the config also has an [acme_server] section (the ACME front
//     door: listen 127.0.0.1:<free port>, TLS files made by init, validation through
//     challtestsrv's DNS on http_port(), only 127.0.0.0/8 reachable, and optionally an upstream
//     dns-01 hook that publishes TXT records in challtestsrv, like scripts/lab);
//  5c. with Options::enroll_listener, [server] enroll_listen = 127.0.0.1:<free port>;
//  6. starts `acme-signer serve` (clean argv: only --config; environment inherited; stdout and
//     stderr appended to signer.log) and waits until it logged "serving on ... (port N)" and an
//     mTLS handshake with the probe identity completes (and, with the front door, its
//     directory answers over TLS verified by the agent CA). The probe makes no RPC, so it leaves
//     no audit record. The OS picks the port at every start (no race with other processes for
//     a port chosen in advance): after StartSigner(), take connections again (Connection(),
//     Client(), signer_address()); clients made before a restart point at the old port.
//
// The acme-signer binary is the one CMake built: ACME_SIGNER_BIN is a compile definition of
// the signer_lab target.
//
// Children get PR_SET_PDEATHSIG(SIGKILL): create the lab on a thread that outlives it (the
// test's main thread, e.g. in SetUpTestSuite). The destructor kills (SIGKILL) and reaps the
// signer, stops Pebble and removes the temp dir (kept when ACME_SIGNER_KEEP_TEST_DIRS=1).
//
// Replicas (Options::replicas = N > 0): a PostgreSQL cluster of the lab's own
// (tests/testing/postgres_cluster.h, under <dir>/pg) holds the state; config_path() is the admin
// config every CLI command uses against it ([state] backend = "postgresql", replica = "admin";
// init and enroll-agent run with it), and N `acme-signer serve` replicas r1..rN run with
// <dir>/rI.toml: their own fixed loopback port (kept across restarts, so signer_target() stays
// valid), state dir <dir>/rI/state, replica = "rI", and their own copy of the SoftHSM2 token
// directory, made after init (SoftHSM2's stand-in for cloning an HSM partition: the same keys in
// every replica), given to the replica alone through SOFTHSM2_CONF. All replicas use the same
// server certificate (made for localhost, 127.0.0.1 and ::1). The single-signer calls act on
// every replica (StartSigner starts those not running, StopSigner stops all) or on r1
// (signer_pid, signer_address, SignerLog); ReloadSigner is single-signer only.
//
// Thread-safety: not thread-safe; drive it from one thread.
#ifndef ACME_SIGNER_TESTS_TESTING_SIGNER_LAB_H_
#define ACME_SIGNER_TESTS_TESTING_SIGNER_LAB_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/signer_client.h"
#include "nlohmann/json.hpp"
#include "tests/testing/pebble_env.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::testing {

// One [[agents]] entry of the generated signer config.
struct LabAgentPolicy {
  std::string name;
  std::vector<std::string> allowed_names;
  bool allow_wildcard_certificates = false;
  int orders_per_hour = 30;
  int max_identifiers_per_order = 10;
  bool allow_sign_jws = false;
  // The host may use the ACME front door (`acme-signer enroll-client`).
  bool front_door = false;
  // [[agents]] accounts / default_account; empty = left out (the signer's default).
  std::vector<std::string> accounts;
  std::string default_account;
};

// The front door ([acme_server]) of a lab.
struct LabFrontDoorOptions {
  // Writes <dir>/dns01-hook, a shell script (curl) that sets/clears TXT records in
  // pebble-challtestsrv (Pebble's DNS), as [acme_server] upstream_dns01_hook: the signer then
  // answers the CA's dns-01 challenges. Without it the config has no hook.
  bool challtestsrv_dns01_hook = true;
};

// A front-door credential, as `acme-signer enroll-client --json` prints it.
struct FrontDoorCredential {
  std::string directory_url;
  std::string account;  // the [[accounts]] name it belongs to
  std::string eab_kid;
  std::string eab_hmac_key;  // base64url
};

// The default policies: web1 may have web1.example.test and one label under it, web2 only
// web2.example.test.
std::vector<LabAgentPolicy> DefaultLabAgents();

// The [acme] endpoint written into the signer's config: Pebble's by default.
struct LabAcmeEndpoint {
  std::string directory_url;
  std::string ca_bundle;
  // Extra TOML lines for the [acme] section, e.g. "request_timeout_ms = 3000\n".
  std::string extra_toml;
};

// One [[accounts]] entry of a multi-account lab. Every account talks to the lab's Pebble;
// `host` makes its directory URL differ ("localhost" vs "127.0.0.1", both in Pebble's
// certificate; Pebble answers with URLs under the host it was asked on), so that
// `acme-agent --server URL` can tell two accounts apart.
struct LabAccount {
  std::string name;
  std::string eab_kid;  // a kid Pebble knows (PebbleEnv eab_kid or Options::extra_eab_kids)
  std::string host = "127.0.0.1";
  std::string key_type = "ec-p256";
};

// What a finished `acme-signer` subcommand printed.
struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
};

class SignerLab {
 public:
  struct Options {
    std::vector<LabAgentPolicy> agents = DefaultLabAgents();
    // Agents to enroll at start (they may also be absent from `agents`).
    std::vector<std::string> enroll = {"web1", "web2"};
    std::string trust_domain = "dept.example";
    int64_t checkpoint_every = 256;
    // Extra environment for Pebble, e.g. {"PEBBLE_AUTHZREUSE", "100"}.
    std::vector<std::pair<std::string, std::string>> pebble_env;
    // Called once Pebble runs, before the config is written: may change the [acme] endpoint
    // (e.g. put a proxy between the signer and Pebble). An error fails Start().
    std::function<absl::Status(PebbleEnv& pebble, LabAcmeEndpoint& acme)> acme_endpoint;
    // Set: the signer also runs the ACME front door (see LabFrontDoorOptions; hosts need
    // LabAgentPolicy::front_door).
    std::optional<LabFrontDoorOptions> front_door;
    // Set: the signer also serves one-token enrolment (server.enroll_listen on a free loopback
    // port, enroll_address()); StartSigner() then also waits for it.
    bool enroll_listener = false;
    // Set: the signer also serves Prometheus metrics ([metrics] listen = 127.0.0.1:<free port>,
    // metrics_url()); StartSigner() then also waits for it.
    bool metrics_listener = false;
    // Bound on each wait for a child (init, serve readiness, shutdown).
    absl::Duration timeout = absl::Seconds(60);
    // Empty: the single [acme] section of before (account `default`). Else these
    // [[accounts]] (Pebble is given the extra EAB kids they name), each set up by its own
    // `acme-signer init --account NAME --eab-kid ... --eab-hmac-key-file ...`.
    std::vector<LabAccount> accounts;
    // > 0: that many replicas on a PostgreSQL cluster (see the file comment).
    int replicas = 0;
  };

  // Everything described in the file comment. Errors: FailedPrecondition when SoftHSM2 or
  // Pebble is missing (see RequireTools), Unavailable/Internal with the failing step and the
  // tail of the relevant log otherwise.
  static absl::StatusOr<std::unique_ptr<SignerLab>> Start(Options options);

  // OK when SoftHSM2 and Pebble are installed, else the first missing tool.
  static absl::Status ToolsAvailable();

  ~SignerLab();
  SignerLab(const SignerLab&) = delete;
  SignerLab& operator=(const SignerLab&) = delete;

  // --- the signer process ---

  // Starts `acme-signer serve` and waits until it serves. FailedPrecondition when it already
  // runs; Unavailable (with the log tail) when it exits or does not become ready in time.
  absl::Status StartSigner();
  // Sends SIGTERM (or SIGKILL when `kill`) and reaps the process; returns its exit code (or
  // 128 + signal number when a signal ended it). FailedPrecondition when it is not running;
  // DeadlineExceeded (after which it is SIGKILLed) when it does not exit in time.
  absl::StatusOr<int> StopSigner(bool kill = false);
  bool signer_running() const;
  pid_t signer_pid() const { return serves_.empty() ? -1 : serves_.front().pid; }
  // --- replicas (Options::replicas) ---

  // 0 for a single signer.
  int replica_count() const { return options_.replicas; }
  // Replica i (0-based: replica i is named "r<i+1>"), as StartSigner/StopSigner do for the
  // single signer. OutOfRange for an index that is not a replica.
  absl::Status StartReplica(int i);
  absl::StatusOr<int> StopReplica(int i, bool kill = false);
  bool replica_running(int i) const;
  pid_t replica_pid(int i) const;
  // 127.0.0.1:<port> of replica i (fixed for the lab's life).
  std::string replica_address(int i) const;
  std::string ReplicaLog(int i) const;
  std::string ReplicaLogTail(int i, size_t max_bytes = 4096) const;
  // The config file of replica i.
  std::string replica_config_path(int i) const;
  // The gRPC target naming every replica, ipv4:127.0.0.1:P1,127.0.0.1:P2,... (with one
  // signer: its address). The TLS name to check is signer_server_name().
  std::string signer_target() const;
  // "localhost" with replicas (every replica's certificate has it), else "" (the address's
  // host, as before).
  std::string signer_server_name() const;
  // The lab's PostgreSQL cluster (to stop and start it); null without replicas.
  PostgresCluster* postgres() { return postgres_.get(); }

  // The standard gRPC health service of replica i (index 0 = the single signer), asked over
  // mTLS as the lab's probe identity (no RPC of the signer's, nothing audited): true for
  // SERVING, false for NOT_SERVING. Unavailable when it does not answer within 10 s.
  absl::StatusOr<bool> Serving(int i = 0) const;

  // Sends SIGHUP and waits for the signer's verdict in its log: OK when it logged
  // "configuration reloaded", FailedPrecondition carrying the log line when it logged
  // "reload refused", DeadlineExceeded when it logged neither.
  absl::Status ReloadSigner();

  // --- configuration ---

  // Rewrites the config file with these [[agents]] (everything else unchanged). Takes effect
  // at the next ReloadSigner() or StartSigner().
  absl::Status RewriteConfig(const std::vector<LabAgentPolicy>& agents);
  // Replaces the config file with `text` as is (e.g. a broken one).
  absl::Status WriteRawConfig(absl::string_view text);
  // The directory URL of lab account `name` (or of the [acme] section when the lab has no
  // accounts list); empty for an unknown name.
  std::string account_directory_url(absl::string_view name) const;
  // The config text the lab would write for `agents`.
  std::string ConfigText(const std::vector<LabAgentPolicy>& agents) const;
  // The [acme] section or the [[accounts]] entries of the config text.
  std::string AccountsToml() const;

  // --- agents ---

  // Makes a P-256 key and enrollment CSR for `name` in-process and runs
  // `acme-signer enroll-agent`; returns the connection for agent/signer_client.h. The name
  // need not be in [[agents]]. Errors carry the command's stderr.
  absl::StatusOr<agent::SignerConnection> EnrollAgent(absl::string_view name);
  // The connection of an agent enrolled earlier: address = signer_target() and server_name =
  // signer_server_name() (with replicas, every replica). NotFound otherwise.
  absl::StatusOr<agent::SignerConnection> Connection(absl::string_view name) const;
  // The same, to replica i alone (index 0 = the single signer).
  absl::StatusOr<agent::SignerConnection> ConnectionTo(absl::string_view name, int i) const;
  // SignerClient::Connect(Connection(name)).
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> Client(absl::string_view name) const;

  // --- the ACME front door (Options::front_door) ---

  bool front_door_enabled() const { return options_.front_door.has_value(); }
  // https://127.0.0.1:<port>/directory (empty without the front door).
  std::string front_door_directory_url() const;
  // PEM file that verifies the front door's TLS certificate: the lab's agent CA.
  const std::string& front_door_ca_path() const { return agent_ca_path_; }
  // The loopback port where the front door validates http-01: http_port(), the same port
  // Pebble uses (as in scripts/lab); run the client's http-01 server there.
  uint16_t front_door_http_port() const { return http_port(); }
  // https://127.0.0.1:<port> of replica i's front door (index 0 = the single signer's).
  std::string front_door_origin(int i) const;
  // Makes `url` (https://host:port, no trailing '/') the [acme_server] external_url of every
  // config, e.g. a load balancer in front of the replicas' front doors; rewrites the configs
  // with Options::agents. Takes effect at the next start of each replica.
  absl::Status SetFrontDoorExternalUrl(std::string url);
  // The upstream dns-01 hook script; empty when the lab has none.
  const std::string& front_door_dns01_hook_path() const { return dns01_hook_path_; }
  // Runs `acme-signer enroll-client --config <cfg> --name <name> [--account <account>] --json`:
  // a new credential (of the host's default account when `account` is empty).
  // FailedPrecondition without the front door; Internal with the command's stderr when it
  // fails or prints something else than the four keys.
  absl::StatusOr<FrontDoorCredential> EnrollFrontDoorClient(absl::string_view name,
                                                            absl::string_view account = "") const;

  // --- admin commands and artifacts ---

  // Runs `acme-signer <args...>` to completion (stdin /dev/null, or `stdin_text` when given),
  // capturing stdout and stderr. Internal when it cannot be started; DeadlineExceeded (after
  // SIGKILL) when it runs longer than Options::timeout.
  absl::StatusOr<CommandResult> RunSignerCommand(const std::vector<std::string>& args) const;

  // Every record of the audit log's files, parsed, in order (with replicas: of the database's
  // chain, through `acme-signer audit export`). Errors name the file and line.
  absl::StatusOr<std::vector<nlohmann::json>> ReadAuditRecords() const;

  // Tail of the serve process's log (stdout + stderr of every run, appended), for failure
  // messages, and the whole log.
  std::string SignerLogTail(size_t max_bytes = 4096) const;
  std::string SignerLog() const;

  // Pebble's root that signs issued certificates (PebbleEnv::FetchRootCertificatePem).
  absl::StatusOr<std::string> PebbleRootPem() const;

  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_path_; }
  const std::string& audit_log_path() const { return audit_log_path_; }
  const std::string& state_dir() const { return state_dir_; }
  const std::string& agent_ca_path() const { return agent_ca_path_; }
  const std::string& signer_log_path() const { return signer_log_path_; }
  const std::string& signer_binary() const { return signer_binary_; }
  const std::string& trust_domain() const { return options_.trust_domain; }
  // 127.0.0.1:<port> the signer listens on (the port of the latest start).
  std::string signer_address() const;
  // 127.0.0.1:<port> of the enrolment listener (Options::enroll_listener), else empty.
  std::string enroll_address() const;
  // http://127.0.0.1:<port>/metrics (Options::metrics_listener), else empty.
  std::string metrics_url() const;
  // The loopback port where Pebble validates http-01: run the test's responder there.
  uint16_t http_port() const { return pebble_->http_port(); }
  PebbleEnv& pebble() { return *pebble_; }
  const SoftHsmToken& token() const { return token_; }

 private:
  // One `acme-signer serve` process: the single signer, or one replica.
  struct ServeProcess {
    std::string name;         // "signer" or "r1", "r2", ...
    std::string config_path;  // the single signer: config_path_
    std::string log_path;
    std::string softhsm_conf;  // replicas: their token copy's; "" = the test process's
    uint16_t port = 0;         // replicas: fixed; the single signer: read at every start
    uint16_t enroll_port = 0;
    uint16_t metrics_port = 0;
    uint16_t front_door_port = 0;
    pid_t pid = -1;
  };

  explicit SignerLab(Options options) : options_(std::move(options)) {}
  absl::Status Prepare();
  absl::Status PrepareReplicas();
  absl::Status StartServe(ServeProcess& serve);
  absl::StatusOr<int> StopServe(ServeProcess& serve, bool kill);
  absl::Status WaitUntilServing(ServeProcess& serve, size_t log_offset);
  absl::Status WaitForFrontDoor(ServeProcess& serve, absl::Time deadline);
  // The config text of `serve` (nullptr: the single signer's, or the admin config).
  std::string ServeConfigText(const std::vector<LabAgentPolicy>& agents,
                              const ServeProcess* serve) const;
  std::string ServeLogTail(const ServeProcess& serve, size_t max_bytes = 4096) const;
  absl::Status CheckReplicaIndex(int i) const;

  Options options_;
  std::string dir_;
  std::string config_path_;
  std::string audit_log_path_;
  std::string state_dir_;
  std::string agent_ca_path_;
  std::string agents_dir_;
  std::string eab_key_path_;
  std::string signer_log_path_;
  std::string signer_binary_;
  // The single signer (one entry) or the replicas.
  std::vector<ServeProcess> serves_;
  std::string front_door_external_url_;  // "" = each front door's own origin
  std::unique_ptr<PostgresCluster> postgres_;
  std::string dns01_hook_path_;
  SoftHsmToken token_;
  std::unique_ptr<PebbleEnv> pebble_;
  LabAcmeEndpoint acme_;
  std::vector<std::pair<std::string, agent::SignerConnection>> agents_;
};

}  // namespace acme_signer::testing

// In a test body (or SetUpTestSuite): skip on a dev machine without SoftHSM2/Pebble, FAIL
// under CI=true.
#define ACME_SIGNER_REQUIRE_SIGNER_LAB_TOOLS()                                             \
  do {                                                                                     \
    const ::absl::Status _lab_tools = ::acme_signer::testing::SignerLab::ToolsAvailable(); \
    if (!_lab_tools.ok()) {                                                                \
      if (::acme_signer::testing::InCi()) {                                                \
        GTEST_FAIL() << "CI=true and a tool is missing: " << _lab_tools;                   \
      } else {                                                                             \
        GTEST_SKIP() << _lab_tools;                                                        \
      }                                                                                    \
    }                                                                                      \
  } while (0)

#endif  // ACME_SIGNER_TESTS_TESTING_SIGNER_LAB_H_
