#include "tests/testing/lab_orders.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "common/status_macros.h"

namespace acme_signer::testing {

namespace pb = ::acmesigner::v1;

absl::StatusOr<pb::Order> PollOrderWhile(agent::SignerClient& client, pb::Order order,
                                         pb::OrderStatus waiting) {
  for (int attempt = 0; order.status() == waiting; ++attempt) {
    if (attempt == 300) {
      return absl::DeadlineExceededError(
          absl::StrCat("order ", order.url(), " still ", pb::OrderStatus_Name(order.status())));
    }
    absl::SleepFor(absl::Milliseconds(200));
    ASSIGN_OR_RETURN(order, client.GetOrder(order.url()));
  }
  return order;
}

absl::Status AnswerHttp01Challenges(agent::SignerClient& client, agent::StandaloneSolver& solver,
                                    const pb::Order& order) {
  std::vector<const pb::Challenge*> chosen;
  std::vector<std::string> domains;
  for (const pb::Authorization& authz : order.authorizations()) {
    if (authz.status() != pb::AUTHORIZATION_STATUS_PENDING) continue;
    for (const pb::Challenge& challenge : authz.challenges()) {
      if (challenge.type() == "http-01") {
        chosen.push_back(&challenge);
        domains.push_back(authz.identifier().value());
        break;
      }
    }
  }
  if (chosen.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(solver.Start());
  for (size_t i = 0; i < chosen.size(); ++i) {
    agent::ChallengeTask task{domains[i],
                              chosen[i]->token(),
                              chosen[i]->key_authorization(),
                              chosen[i]->dns01_txt_value(),
                              static_cast<int>(chosen.size() - i - 1),
                              domains[i]};
    RETURN_IF_ERROR(solver.Present(task));
  }
  for (const pb::Challenge* challenge : chosen) {
    RETURN_IF_ERROR(client.AnswerChallenge(challenge->url()).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NewCsrDer(const std::vector<std::string>& names) {
  ASSIGN_OR_RETURN(agent::PrivateKey key, agent::PrivateKey::Generate(agent::KeySpec()));
  return agent::BuildCsrDer(key, names);
}

absl::StatusOr<pb::Order> CreateReadyOrder(agent::SignerClient& client, uint16_t http_port,
                                           const std::vector<std::string>& names) {
  ASSIGN_OR_RETURN(pb::Order order, client.CreateOrder(names, ""));
  agent::StandaloneSolver solver("127.0.0.1", http_port);
  RETURN_IF_ERROR(AnswerHttp01Challenges(client, solver, order));
  return PollOrderWhile(client, std::move(order), pb::ORDER_STATUS_PENDING);
}

}  // namespace acme_signer::testing
