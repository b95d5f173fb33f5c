// Copies of a lineage's PKCS#12 for IIS's Central Certificate Store (CCS), `--ccs-dir DIR`.
//
// IIS with CCS finds the certificate for a site by host name in ONE directory (usually a
// share): DIR/www.example.com.pfx, and DIR/_.example.com.pfx for the wildcard *.example.com.
// Every file there has the one password configured in IIS (here the lineage's
// --pfx-password-file). So a lineage with --ccs-dir DIR writes its live cert.pfx once per name
// of its certificate. They are copies, not symlinks into live/: a Samba share does not follow
// links that leave it (`wide links = no`), and IIS reads the share from another machine.
//
// Each file is replaced atomically (temp file, fsync, rename) with mode 0600 from creation,
// after live/NAME has switched to the new version, so a file never holds a certificate that
// is not live. Files of names the lineage no longer has (or of the old DIR, when it changed)
// are removed, but only while they still hold this lineage's previous PKCS#12 byte for byte:
// a file another lineage (or a person) has written since is left alone.
//
// Thread-safety: none; the caller holds the run lock.
#ifndef ACME_SIGNER_AGENT_CENTRAL_STORE_H_
#define ACME_SIGNER_AGENT_CENTRAL_STORE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "agent/lineage.h"

namespace acme_signer::agent {

// The CCS file name for a DNS name: "www.example.com" -> "www.example.com.pfx",
// "*.example.com" -> "_.example.com.pfx" (IIS's spelling of a wildcard).
std::string CentralStoreFileName(absl::string_view dns_name);

// What a lineage has in a CCS directory: the directory, the names, and the PKCS#12 bytes
// that its files hold. Empty `dir` or `pfx`: nothing.
struct CentralStoreCopies {
  std::string dir;
  std::vector<std::string> names;
  std::string pfx;
};

// FailedPrecondition naming the path when `dir` is not an existing directory (checked before a
// certificate is requested, so a typo costs no issuance).
absl::Status CheckCentralStoreDir(const std::string& dir);

// Writes `now.pfx` as now.dir/CentralStoreFileName(name) for every name (atomically, 0600),
// then removes the files of `before` that `now` does not write and that still hold
// `before.pfx`. Errors name the file (ErrnoStatus codes).
absl::Status UpdateCentralStore(const CentralStoreCopies& before, const CentralStoreCopies& now);

// What the live version of `lineage` has in a CCS directory: its stored ccs_dir, the names of
// its live certificate and its live cert.pfx. Empty (nothing to remove) when it has no ccs_dir
// or any of these cannot be read.
CentralStoreCopies LiveCentralStoreCopies(const LineageStore& store, const std::string& lineage);

// Removes the files of `copies` that still hold `copies.pfx` (for `acme-agent delete`).
absl::Status RemoveFromCentralStore(const CentralStoreCopies& copies);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_CENTRAL_STORE_H_
