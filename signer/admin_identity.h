// The `agent` of an audit record written for an administrator's action rather than an agent's
// call: "admin:<user name>" of a local uid ("admin:uid-<n>" when the uid has no name), e.g. the
// person running `acme-signer account deactivate`, or the sender of the SIGHUP that reloaded
// serve (`acme-signer reload`, systemctl reload, kill -HUP).
//
// Thread-safety: thread-safe (getpwuid_r).
#ifndef ACME_SIGNER_SIGNER_ADMIN_IDENTITY_H_
#define ACME_SIGNER_SIGNER_ADMIN_IDENTITY_H_

#include <sys/types.h>

#include <string>

namespace acme_signer::signer {

std::string AdminIdentity(uid_t uid);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_ADMIN_IDENTITY_H_
