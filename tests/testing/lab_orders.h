// Order steps that integration tests drive by hand through a SignerClient (relay RPCs), for
// tests that need to stop between steps (kill the signer, fill the disk, ...). Tests that only
// want a certificate use agent::IssueThroughSigner (agent/relay_issuer.h).
//
// Thread-safety: free functions; each call uses only its arguments.
#ifndef ACME_SIGNER_TESTS_TESTING_LAB_ORDERS_H_
#define ACME_SIGNER_TESTS_TESTING_LAB_ORDERS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/signer_client.h"
#include "agent/standalone_solver.h"

namespace acme_signer::testing {

// Polls the order through the signer while its status is `waiting` (every 200 ms, at most 60 s,
// then DeadlineExceeded naming the order), so a stuck CA fails the test instead of hanging it.
absl::StatusOr<::acmesigner::v1::Order> PollOrderWhile(agent::SignerClient& client,
                                                       ::acmesigner::v1::Order order,
                                                       ::acmesigner::v1::OrderStatus waiting);

// Presents the http-01 challenge of every pending authorization of `order` on `solver` and
// asks the signer to answer it. The solver must stay alive until the CA has validated.
absl::Status AnswerHttp01Challenges(agent::SignerClient& client, agent::StandaloneSolver& solver,
                                    const ::acmesigner::v1::Order& order);

// A DER CSR for `names` under a fresh P-256 key.
absl::StatusOr<std::string> NewCsrDer(const std::vector<std::string>& names);

// Creates an order for `names`, answers its http-01 challenges on `http_port` (the lab's
// SignerLab::http_port()) and waits until the CA validated it (status ready, or invalid).
absl::StatusOr<::acmesigner::v1::Order> CreateReadyOrder(agent::SignerClient& client,
                                                         uint16_t http_port,
                                                         const std::vector<std::string>& names);

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_LAB_ORDERS_H_
