// A "lineage" is certbot's name for one certificate and all its renewals. This class keeps
// certbot's on-disk layout under the config dir (default /etc/acme-agent):
//
//   archive/NAME/{cert,chain,fullchain,privkey}N.pem   version N = 1, 2, ... (never overwritten)
//   archive/NAME/certN.pfx                              when --pfx is used
//   live/NAME/{cert,chain,fullchain,privkey}.pem        RELATIVE symlinks ../../archive/NAME/xN.pem
//   live/NAME/cert.pfx, live/NAME/README
//   renewal/NAME.conf                                   see renewal_config.h
//   archive/NAME/revoked                                revocations made by `acme-agent revoke`
//
// Revocation record. archive/NAME/revoked has one line per certificate of the lineage that
// `acme-agent revoke` revoked: "SERIAL TIME REASON", the serial in the one spelling of every
// output (SerialText, common/x509.h: lower-case hex, two digits per byte; older files without
// the leading zero read the same), TIME in RFC 3339 UTC, REASON the RFC 5280 name, e.g.
//   026c91fec54367ad 2026-12-02T02:40:00Z superseded
// The lineage's current certificate is revoked exactly when its serial is listed, so a renewal
// (new serial) ends the state without rewriting anything. The file lives with the archive,
// whose files are never rewritten, rather than in renewal/NAME.conf, which holds settings, so
// no rewrite of the settings can drop it; it is replaced atomically (0644) like every other
// file here, and is not a version (certN.pem numbering ignores it).
//
// Atomic switch. certbot re-points the four links one by one, so a crash in between leaves, e.g.,
// cert vN+1 next to privkey vN and the web server fails to start. Here live/NAME is itself a
// relative symlink to a sibling directory live/.NAME.vN/ that holds the four links. The links'
// text is exactly certbot's ("../../archive/NAME/cert3.pem": .NAME.vN sits at the same depth as
// NAME, so the relative target resolves identically), and every path a server is configured with
// (live/NAME/fullchain.pem) keeps working. Installing version N+1:
//   1. write archive files N+1 with O_EXCL (privkey 0600, others 0644), fsync each, fsync dir;
//   2. build live/.NAME.vN+1/ with the links and README, fsync it;
//   3. create symlink live/.NAME.next -> .NAME.vN+1 and rename() it over live/NAME (one atomic
//      step), fsync live/. A certbot-made live/NAME *directory* is replaced the same way with
//      renameat2(RENAME_EXCHANGE), then the old directory is deleted;
//   4. delete version directories other than the new and the previous one (a reader that
//      resolved live/NAME an instant earlier may still be opening files there).
// A crash before step 3 leaves live/NAME on vN, complete. An I/O error (disk full, read-only
// file system) removes what the attempt wrote: the files of a half-written archive version,
// a half-built .NAME.vN+1. A complete archive version N+1 that never went live is reported by
// PendingVersions so a later run can check and activate it; otherwise new installs use the
// next free number, so no archive file is ever rewritten. A crash after step 3 leaves N+1
// complete and live.
// Difference from certbot: `certbot delete` calls rmtree on live/NAME, which refuses a symlink;
// use `acme-agent delete` (or remove the link and .NAME.v* by hand).
//
// Thread-safety: none. Two processes installing into the same lineage concurrently are not
// supported; the caller holds a lock file (as certbot does) around renewals.
#ifndef ACME_SIGNER_AGENT_LINEAGE_H_
#define ACME_SIGNER_AGENT_LINEAGE_H_

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/certificate_info.h"
#include "agent/renewal_config.h"
#include "common/secret.h"

namespace acme_signer::agent {

// The files of one version, PEM text as returned by the CA (fullchain = cert + chain).
struct LineageFiles {
  Secret privkey_pem;
  std::string cert_pem;
  std::string chain_pem;
  std::string fullchain_pem;
  std::optional<std::string> pfx;  // DER PKCS#12, written as certN.pfx / cert.pfx (mode 0600)
};

struct LineagePaths {
  std::string live_dir;  // live/NAME
  std::string archive_dir;
  std::string renewal_conf;
  std::string cert;  // live/NAME/cert.pem, etc.
  std::string chain;
  std::string fullchain;
  std::string privkey;
  std::string pfx;
};

// One line of archive/NAME/revoked.
struct RevocationRecord {
  std::string serial;  // any hex spelling; stored and returned as SerialText
  absl::Time time;
  std::string reason;  // RFC 5280 reason name, no spaces
};

struct LineageInfo {
  std::string name;
  // Not OK when the lineage is broken (dangling links, unreadable cert); the fields below are
  // then partially filled.
  absl::Status status;
  int version = 0;
  CertificateInfo certificate;
  LineagePaths paths;
  bool has_renewal_conf = false;
  // The current certificate's serial is in archive/NAME/revoked.
  bool revoked = false;
};

// InvalidArgument unless `name` is 1..255 of [A-Za-z0-9._-], not starting with '.' (certbot uses
// the first domain, e.g. "example.com" or "example.com-0001").
absl::Status ValidateLineageName(absl::string_view name);

class LineageStore {
 public:
  struct Options {
    // Test seam for crash and I/O-failure simulation: called before each step with the step's
    // name ("archive:privkey", "archive:cert", "archive:chain", "archive:fullchain",
    // "archive:pfx", "live:switch"); a non-OK return aborts the operation at that point exactly
    // as an I/O error would.
    std::function<absl::Status(absl::string_view step)> fault_injector;
  };

  explicit LineageStore(std::string config_dir) : LineageStore(std::move(config_dir), Options()) {}
  LineageStore(std::string config_dir, Options options);

  const std::string& config_dir() const { return config_dir_; }
  LineagePaths Paths(absl::string_view name) const;

  // Writes version N+1 and makes it live (steps 1-4 above). Returns N+1. On error the live
  // version is unchanged and complete.
  absl::StatusOr<int> InstallNewVersion(absl::string_view name, const LineageFiles& files);

  // The two halves of InstallNewVersion, public so a crash between them can be tested and so a
  // half-done install can be finished. WriteArchiveVersion returns the new version number.
  absl::StatusOr<int> WriteArchiveVersion(absl::string_view name, const LineageFiles& files);
  // FailedPrecondition when any of the four PEM files of `version` is missing or empty.
  absl::Status ActivateVersion(absl::string_view name, int version);

  // Versions in archive/NAME newer than the live one (all versions when nothing is live),
  // ascending: what an install left when it stopped between writing the archive and switching
  // live/ (killed, or live/ not writable). A failed archive write leaves none (it removes what
  // it wrote). The caller decides whether one is sound enough to ActivateVersion.
  absl::StatusOr<std::vector<int>> PendingVersions(absl::string_view name) const;
  // The files of archive version `version`; FailedPrecondition naming the file when one of the
  // four PEM files is missing or empty (pfx is optional).
  absl::StatusOr<LineageFiles> ReadArchiveVersion(absl::string_view name, int version) const;
  // Removes the archive files (and link directory) of a version that is not live, e.g. an
  // incomplete pending one. FailedPrecondition for the live version. The caller holds the
  // run lock (a concurrent install could be writing that version).
  absl::Status DiscardVersion(absl::string_view name, int version);

  // Version live/NAME/cert.pem points at. NotFound when the lineage does not exist;
  // FailedPrecondition when the link is not of certbot's form.
  absl::StatusOr<int> CurrentVersion(absl::string_view name) const;

  // PEM of the live cert.pem (leaf only) and facts parsed from it.
  absl::StatusOr<std::string> ReadCurrentCertificatePem(absl::string_view name) const;
  absl::StatusOr<CertificateInfo> ReadCurrentCertificate(absl::string_view name) const;
  // The live private key PEM (for --reuse-key).
  absl::StatusOr<Secret> ReadCurrentPrivateKeyPem(absl::string_view name) const;

  // Lineage facts; a broken lineage is returned with a non-OK `status` rather than failing.
  absl::StatusOr<LineageInfo> Get(absl::string_view name) const;
  // Every lineage under live/, sorted by name. An absent live/ is an empty list.
  absl::StatusOr<std::vector<LineageInfo>> List() const;
  // The first lineage (by name) whose live certificate names exactly `names`: the same set of
  // DNS names, in any order, as certbot matches a request without --cert-name. Broken
  // lineages are skipped. nullopt when there is none.
  absl::StatusOr<std::optional<std::string>> FindByNames(
      const std::vector<std::string>& names) const;
  // The first lineage (by name) whose live certificate's names are a proper subset of `names`:
  // certbot's candidate for --expand. Broken lineages are skipped. nullopt when there is none.
  absl::StatusOr<std::optional<std::string>> FindSubsetOfNames(
      const std::vector<std::string>& names) const;
  // A name for a new lineage: `base` when nothing of it exists yet (live/, archive/,
  // renewal/NAME.conf), else certbot's BASE-0001, BASE-0002, ... (the first free one, up to
  // BASE-9999; ResourceExhausted beyond).
  absl::StatusOr<std::string> UnusedName(absl::string_view base) const;

  // Appends `record` to archive/NAME/revoked (atomic replace; a serial already listed is not
  // added twice). NotFound when the lineage has no archive; FailedPrecondition naming the file
  // and line when the existing record is malformed.
  absl::Status RecordRevocation(absl::string_view name, const RevocationRecord& record);
  // The records of archive/NAME/revoked, oldest first; empty when there is none.
  absl::StatusOr<std::vector<RevocationRecord>> Revocations(absl::string_view name) const;

  // Removes the lineage: live/NAME first (it then no longer exists for any command), then
  // renewal/NAME.conf, its link directories live/.NAME.vN and archive/NAME, keys included.
  // NotFound when none of them exists. The caller holds the run lock.
  absl::Status Delete(absl::string_view name);

  // renewal/NAME.conf (mode 0644, atomic replace).
  absl::Status WriteRenewalConfig(absl::string_view name, const RenewalConfig& config);
  absl::StatusOr<RenewalConfig> ReadRenewalConfig(absl::string_view name) const;

 private:
  // The first readable lineage whose certificate's names satisfy `matches`.
  absl::StatusOr<std::optional<std::string>> FindByHeldNames(
      const std::function<bool(const std::set<std::string>&)>& matches) const;
  absl::Status Fault(absl::string_view step) const;
  // Every version number with at least one file in archive/NAME (empty when it does not exist).
  absl::StatusOr<std::set<int>> ArchiveVersions(absl::string_view name) const;
  // Steps 2 and 3 of an install; OK exactly when live/NAME now points at `version`.
  absl::Status SwitchLive(absl::string_view name, int version, bool has_pfx);
  absl::Status EnsureBaseDirectories() const;

  std::string config_dir_;
  Options options_;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_LINEAGE_H_
