#include "agent/lineage.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPemKinds[] = {"cert", "chain", "fullchain", "privkey"};
constexpr size_t kMaxPemBytes = 1 << 20;

constexpr char kReadme[] =
    "This directory contains your keys and certificates.\n"
    "\n"
    "`privkey.pem`  : the private key for your certificate.\n"
    "`fullchain.pem`: the certificate file used in most server software.\n"
    "`chain.pem`    : used for OCSP stapling in Nginx >=1.3.7.\n"
    "`cert.pem`     : will break many server configurations, and should not be used\n"
    "                 without reading further documentation (see docs/agent.md).\n"
    "\n"
    "WARNING: DO NOT MOVE OR RENAME THESE FILES!\n"
    "         acme-agent expects these files to remain in this location in order\n"
    "         to function properly!\n"
    "\n"
    "The files are symlinks into ../../archive/; the directory itself is switched to a new\n"
    "version in one atomic step when the certificate is renewed.\n";

constexpr char kLiveReadme[] =
    "This directory contains your keys and certificates, one subdirectory per certificate\n"
    "(lineage). Entries starting with '.' are acme-agent's versioned link directories: do not\n"
    "edit them; point your server at live/NAME/fullchain.pem and live/NAME/privkey.pem.\n";

absl::Status MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0) {
    // mkdir's mode is filtered by the umask; the layout's modes are part of its contract.
    if (::chmod(path.c_str(), mode) != 0) {
      return ErrnoStatus(errno, absl::StrCat("cannot set mode on ", path));
    }
    return absl::OkStatus();
  }
  if (errno != EEXIST) return ErrnoStatus(errno, absl::StrCat("cannot create directory ", path));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

// Creates `path` (which must not exist) with `data`, fsyncs it. An archive file is never
// replaced: O_EXCL makes a version-number mix-up an error instead of silent data loss.
// On failure the file is removed again: a truncated archive file (the disk filled up halfway)
// must not stay behind looking like a version.
absl::Status CreateFileExclusive(const std::string& path, absl::string_view data, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("cannot create ", path));
  auto remove = [&path](absl::Status status) {
    ::unlink(path.c_str());
    return status;
  };
  if (::fchmod(fd.get(), mode) != 0) {
    return remove(ErrnoStatus(errno, absl::StrCat("cannot set mode on ", path)));
  }
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return remove(ErrnoStatus(errno, absl::StrCat("cannot write ", path)));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    return remove(ErrnoStatus(errno, absl::StrCat("cannot sync ", path)));
  }
  if (absl::Status closed = fd.Close(absl::StrCat("cannot close ", path)); !closed.ok()) {
    return remove(closed);
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("cannot remove ", path));
  return absl::OkStatus();
}

// Parses "<kind><N>.<ext>" into N; nullopt when `file` is not of that form.
std::optional<int> VersionOf(absl::string_view file, absl::string_view kind,
                             absl::string_view ext) {
  if (!absl::ConsumePrefix(&file, kind) || !absl::ConsumeSuffix(&file, ext)) return std::nullopt;
  if (file.empty() || !std::all_of(file.begin(), file.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return std::nullopt;
  }
  int n = 0;
  if (!absl::SimpleAtoi(file, &n) || n <= 0) return std::nullopt;
  return n;
}

std::string VersionDirName(absl::string_view name, int version) {
  return absl::StrCat(".", name, ".v", version);
}

absl::StatusOr<std::string> ReadLink(const std::string& path) {
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) return ErrnoStatus(errno, absl::StrCat("cannot read link ", path));
  buf.resize(static_cast<size_t>(n));
  return buf;
}

absl::Status CheckNonEmptyFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is missing"));
  }
  if (!S_ISREG(st.st_mode) || st.st_size == 0) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a non-empty regular file"));
  }
  return absl::OkStatus();
}

// The serial as certbot prints it; nullopt unless `serial` is 1..64 hex digits.
std::optional<std::string> NormalizeSerial(absl::string_view serial) {
  if (serial.empty() || serial.size() > 64 ||
      !std::all_of(serial.begin(), serial.end(),
                   [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); })) {
    return std::nullopt;
  }
  return SerialText(serial);
}

std::string RevocationsPath(const LineagePaths& paths) { return paths.archive_dir + "/revoked"; }

// Parses archive/NAME/revoked (see lineage.h); FailedPrecondition naming the file and line.
absl::StatusOr<std::vector<RevocationRecord>> ParseRevocations(absl::string_view text,
                                                               const std::string& path) {
  std::vector<RevocationRecord> records;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    RevocationRecord record;
    std::optional<std::string> serial = fields.empty() ? std::nullopt : NormalizeSerial(fields[0]);
    std::string error;
    if (fields.size() != 3 || !serial.has_value() ||
        !absl::ParseTime(absl::RFC3339_full, fields[1], &record.time, &error)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " line ", line_number,
                       ": expected \"SERIAL TIME REASON\" (hex serial, RFC 3339 "
                       "time), got \"",
                       line, "\""));
    }
    record.serial = *serial;
    record.reason = std::string(fields[2]);
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace

absl::Status ValidateLineageName(absl::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.') {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate name \"", name, "\" must be 1..255 characters and not start with '.'"));
  }
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate name \"", name, "\" may contain only letters, digits, '.', '-' and '_'"));
    }
  }
  if (name == "README") {
    return absl::InvalidArgumentError("certificate name \"README\" is reserved");
  }
  return absl::OkStatus();
}

LineageStore::LineageStore(std::string config_dir, Options options)
    : config_dir_(std::move(config_dir)), options_(std::move(options)) {
  while (config_dir_.size() > 1 && config_dir_.back() == '/') config_dir_.pop_back();
}

absl::Status LineageStore::Fault(absl::string_view step) const {
  if (options_.fault_injector) return options_.fault_injector(step);
  return absl::OkStatus();
}

LineagePaths LineageStore::Paths(absl::string_view name) const {
  LineagePaths p;
  p.live_dir = absl::StrCat(config_dir_, "/live/", name);
  p.archive_dir = absl::StrCat(config_dir_, "/archive/", name);
  p.renewal_conf = absl::StrCat(config_dir_, "/renewal/", name, ".conf");
  p.cert = p.live_dir + "/cert.pem";
  p.chain = p.live_dir + "/chain.pem";
  p.fullchain = p.live_dir + "/fullchain.pem";
  p.privkey = p.live_dir + "/privkey.pem";
  p.pfx = p.live_dir + "/cert.pfx";
  return p;
}

absl::Status LineageStore::EnsureBaseDirectories() const {
  RETURN_IF_ERROR(MakeDir(config_dir_, 0755));
  // certbot's modes: archive/ and live/ are 0700 (they lead to private keys).
  RETURN_IF_ERROR(MakeDir(config_dir_ + "/archive", 0700));
  const std::string live = config_dir_ + "/live";
  struct stat st;
  bool new_live = ::stat(live.c_str(), &st) != 0;
  RETURN_IF_ERROR(MakeDir(live, 0700));
  if (new_live) RETURN_IF_ERROR(WriteFileAtomically(live + "/README", kLiveReadme, 0644));
  return MakeDir(config_dir_ + "/renewal", 0755);
}

absl::StatusOr<std::set<int>> LineageStore::ArchiveVersions(absl::string_view name) const {
  const std::string archive_dir = Paths(name).archive_dir;
  std::set<int> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(archive_dir, ec)) {
    const std::string file = entry.path().filename().string();
    for (const char* kind : kPemKinds) {
      if (auto v = VersionOf(file, kind, ".pem")) versions.insert(*v);
    }
    if (auto v = VersionOf(file, "cert", ".pfx")) versions.insert(*v);
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoStatus(ec.value(), absl::StrCat("cannot list ", archive_dir));
  }
  return versions;
}

absl::StatusOr<int> LineageStore::WriteArchiveVersion(absl::string_view name,
                                                      const LineageFiles& files) {
  RETURN_IF_ERROR(ValidateLineageName(name));
  if (files.privkey_pem.empty() || files.cert_pem.empty() || files.chain_pem.empty() ||
      files.fullchain_pem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate ", name, ": privkey, cert, chain and fullchain must all be non-empty"));
  }
  RETURN_IF_ERROR(EnsureBaseDirectories());
  const LineagePaths paths = Paths(name);
  RETURN_IF_ERROR(MakeDir(paths.archive_dir, 0700));

  // Next free number over every file ever written, including leftovers of a crashed install.
  ASSIGN_OR_RETURN(std::set<int> versions, ArchiveVersions(name));
  const int version = versions.empty() ? 1 : *versions.rbegin() + 1;

  std::vector<std::string> created;
  auto write = [&](const char* kind, const char* ext, absl::string_view data,
                   mode_t mode) -> absl::Status {
    RETURN_IF_ERROR(
        Fault(absl::StrCat("archive:", absl::string_view(ext) == ".pfx" ? "pfx" : kind)));
    std::string path = absl::StrCat(paths.archive_dir, "/", kind, version, ext);
    RETURN_IF_ERROR(CreateFileExclusive(path, data, mode));
    created.push_back(std::move(path));
    return absl::OkStatus();
  };
  absl::Status status = write("privkey", ".pem", files.privkey_pem.reveal(), 0600);
  if (status.ok()) status = write("cert", ".pem", files.cert_pem, 0644);
  if (status.ok()) status = write("chain", ".pem", files.chain_pem, 0644);
  if (status.ok()) status = write("fullchain", ".pem", files.fullchain_pem, 0644);
  if (status.ok() && files.pfx.has_value()) status = write("cert", ".pfx", *files.pfx, 0600);
  if (status.ok()) status = SyncDirectory(paths.archive_dir);
  if (!status.ok()) {
    // A version that could not be written completely is removed (on a full disk this also
    // gives the space back), so no half version, and no key nobody uses, stays behind.
    for (const std::string& path : created) ::unlink(path.c_str());
    SyncDirectory(paths.archive_dir).IgnoreError();
    return status;
  }
  return version;
}

absl::StatusOr<std::vector<int>> LineageStore::PendingVersions(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateLineageName(name));
  int current = 0;
  if (absl::StatusOr<int> live = CurrentVersion(name); live.ok()) {
    current = *live;
  } else if (live.status().code() != absl::StatusCode::kNotFound) {
    return live.status();
  }
  ASSIGN_OR_RETURN(std::set<int> versions, ArchiveVersions(name));
  return std::vector<int>(versions.upper_bound(current), versions.end());
}

absl::StatusOr<LineageFiles> LineageStore::ReadArchiveVersion(absl::string_view name,
                                                              int version) const {
  RETURN_IF_ERROR(ValidateLineageName(name));
  const LineagePaths paths = Paths(name);
  auto read = [&](const char* kind, const char* ext) -> absl::StatusOr<std::string> {
    const std::string path = absl::StrCat(paths.archive_dir, "/", kind, version, ext);
    RETURN_IF_ERROR(CheckNonEmptyFile(path));
    return ReadFile(path, kMaxPemBytes);
  };
  LineageFiles files;
  ASSIGN_OR_RETURN(std::string privkey, read("privkey", ".pem"));
  files.privkey_pem = Secret(std::move(privkey));
  ASSIGN_OR_RETURN(files.cert_pem, read("cert", ".pem"));
  ASSIGN_OR_RETURN(files.chain_pem, read("chain", ".pem"));
  ASSIGN_OR_RETURN(files.fullchain_pem, read("fullchain", ".pem"));
  if (absl::StatusOr<std::string> pfx = read("cert", ".pfx"); pfx.ok()) files.pfx = *pfx;
  return files;
}

absl::Status LineageStore::DiscardVersion(absl::string_view name, int version) {
  RETURN_IF_ERROR(ValidateLineageName(name));
  if (absl::StatusOr<int> live = CurrentVersion(name); live.ok() && *live == version) {
    return absl::FailedPreconditionError(
        absl::StrCat("version ", version, " of ", name, " is live and cannot be discarded"));
  }
  const LineagePaths paths = Paths(name);
  for (const char* kind : kPemKinds) {
    const std::string path = absl::StrCat(paths.archive_dir, "/", kind, version, ".pem");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("cannot remove ", path));
    }
  }
  const std::string pfx = absl::StrCat(paths.archive_dir, "/cert", version, ".pfx");
  if (::unlink(pfx.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("cannot remove ", pfx));
  }
  RETURN_IF_ERROR(RemoveTree(absl::StrCat(config_dir_, "/live/", VersionDirName(name, version))));
  return SyncDirectory(paths.archive_dir);
}

absl::Status LineageStore::SwitchLive(absl::string_view name, int version, bool has_pfx) {
  const LineagePaths paths = Paths(name);
  const std::string live = config_dir_ + "/live";
  // Step 2: the new version's link directory, built aside.
  const std::string vdir_name = VersionDirName(name, version);
  const std::string vdir = absl::StrCat(live, "/", vdir_name);
  RETURN_IF_ERROR(RemoveTree(vdir));
  RETURN_IF_ERROR(MakeDir(vdir, 0755));
  auto link = [&](const std::string& kind, const std::string& ext) -> absl::Status {
    const std::string target = absl::StrCat("../../archive/", name, "/", kind, version, ext);
    const std::string at = absl::StrCat(vdir, "/", kind, ext);
    if (::symlink(target.c_str(), at.c_str()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("cannot create symlink ", at));
    }
    return absl::OkStatus();
  };
  for (const char* kind : kPemKinds) RETURN_IF_ERROR(link(kind, ".pem"));
  if (has_pfx) RETURN_IF_ERROR(link("cert", ".pfx"));
  RETURN_IF_ERROR(WriteFileAtomically(vdir + "/README", kReadme, 0644));
  RETURN_IF_ERROR(SyncDirectory(vdir));

  // Step 3: one rename makes the new version live.
  RETURN_IF_ERROR(Fault("live:switch"));
  const std::string next = absl::StrCat(live, "/.", name, ".next");
  if (::unlink(next.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("cannot remove stale ", next));
  }
  if (::symlink(vdir_name.c_str(), next.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot create symlink ", next));
  }
  struct stat st;
  const bool live_is_real_dir = ::lstat(paths.live_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  if (live_is_real_dir) {
    // A certbot-made directory: swap it with our link atomically, then drop it.
    if (::renameat2(AT_FDCWD, next.c_str(), AT_FDCWD, paths.live_dir.c_str(), RENAME_EXCHANGE) !=
        0) {
      int err = errno;
      ::unlink(next.c_str());
      return ErrnoStatus(err, absl::StrCat("cannot atomically replace directory ", paths.live_dir,
                                           " (file system without RENAME_EXCHANGE?)"));
    }
    // The old directory now sits at `next`; ActivateVersion removes it.
  } else {
    if (::rename(next.c_str(), paths.live_dir.c_str()) != 0) {
      int err = errno;
      ::unlink(next.c_str());
      return ErrnoStatus(err, absl::StrCat("cannot switch ", paths.live_dir));
    }
  }
  return absl::OkStatus();
}

absl::Status LineageStore::ActivateVersion(absl::string_view name, int version) {
  RETURN_IF_ERROR(ValidateLineageName(name));
  const LineagePaths paths = Paths(name);
  for (const char* kind : kPemKinds) {
    RETURN_IF_ERROR(CheckNonEmptyFile(absl::StrCat(paths.archive_dir, "/", kind, version, ".pem")));
  }
  const bool has_pfx =
      CheckNonEmptyFile(absl::StrCat(paths.archive_dir, "/cert", version, ".pfx")).ok();
  RETURN_IF_ERROR(EnsureBaseDirectories());
  const std::string live = config_dir_ + "/live";
  std::optional<int> previous;
  if (auto current = CurrentVersion(name); current.ok()) previous = *current;

  // Steps 2 and 3. Until the rename succeeds, a failure removes the half-built link
  // directory so nothing of the attempt stays in live/ (the archive files stay: complete,
  // they let the next run finish the install, see PendingVersions).
  absl::Status switched = SwitchLive(name, version, has_pfx);
  if (!switched.ok()) {
    if (!previous.has_value() || *previous != version) {
      RemoveTree(absl::StrCat(live, "/", VersionDirName(name, version))).IgnoreError();
    }
    return switched;
  }
  RETURN_IF_ERROR(SyncDirectory(live));
  // After replacing a certbot-made directory, the old directory is what `.NAME.next` is.
  const std::string next = absl::StrCat(live, "/.", name, ".next");
  if (struct stat st; ::lstat(next.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    RETURN_IF_ERROR(RemoveTree(next));
  }

  // Step 4: garbage from older versions or crashed attempts. Failure here is harmless.
  std::error_code ec;
  const std::string prefix = absl::StrCat(".", name, ".v");
  for (const auto& entry : fs::directory_iterator(live, ec)) {
    const std::string file = entry.path().filename().string();
    auto v = VersionOf(file, prefix, "");
    if (!v.has_value() || *v == version || (previous.has_value() && *v == *previous)) continue;
    RemoveTree(entry.path().string()).IgnoreError();
  }
  return absl::OkStatus();
}

absl::StatusOr<int> LineageStore::InstallNewVersion(absl::string_view name,
                                                    const LineageFiles& files) {
  ASSIGN_OR_RETURN(int version, WriteArchiveVersion(name, files));
  RETURN_IF_ERROR(ActivateVersion(name, version));
  return version;
}

absl::StatusOr<int> LineageStore::CurrentVersion(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateLineageName(name));
  const LineagePaths paths = Paths(name);
  struct stat st;
  if (::lstat(paths.live_dir.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("no certificate named ", name, " (", paths.live_dir, " does not exist)"));
  }
  auto link = ReadLink(paths.cert);
  if (!link.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate ", name, " is broken: ", link.status().message()));
  }
  const std::string& target = *link;
  absl::string_view rest = target;
  const std::string expected_prefix = absl::StrCat("../../archive/", name, "/");
  std::optional<int> version;
  if (absl::ConsumePrefix(&rest, expected_prefix)) version = VersionOf(rest, "cert", ".pem");
  if (!version.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        paths.cert, " points at \"", target, "\", expected ", expected_prefix, "certN.pem"));
  }
  return *version;
}

absl::StatusOr<std::string> LineageStore::ReadCurrentCertificatePem(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateLineageName(name));
  return ReadFile(Paths(name).cert, kMaxPemBytes);
}

absl::StatusOr<CertificateInfo> LineageStore::ReadCurrentCertificate(absl::string_view name) const {
  ASSIGN_OR_RETURN(std::string pem, ReadCurrentCertificatePem(name));
  auto info = ReadCertificateInfo(pem);
  if (!info.ok()) {
    return absl::Status(info.status().code(),
                        absl::StrCat(Paths(name).cert, ": ", info.status().message()));
  }
  return info;
}

absl::StatusOr<Secret> LineageStore::ReadCurrentPrivateKeyPem(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateLineageName(name));
  ASSIGN_OR_RETURN(std::string pem, ReadFile(Paths(name).privkey, kMaxPemBytes));
  return Secret(std::move(pem));
}

absl::StatusOr<LineageInfo> LineageStore::Get(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateLineageName(name));
  LineageInfo info;
  info.name = std::string(name);
  info.paths = Paths(name);
  struct stat st;
  info.has_renewal_conf = ::stat(info.paths.renewal_conf.c_str(), &st) == 0;
  auto version = CurrentVersion(name);
  if (version.status().code() == absl::StatusCode::kNotFound) return version.status();
  if (!version.ok()) {
    info.status = version.status();
    return info;
  }
  info.version = *version;
  for (const std::string* path : {&info.paths.chain, &info.paths.fullchain, &info.paths.privkey}) {
    if (absl::Status s = CheckNonEmptyFile(*path); !s.ok()) {
      info.status = s;
      return info;
    }
  }
  auto cert = ReadCurrentCertificate(name);
  if (!cert.ok()) {
    info.status = cert.status();
    return info;
  }
  info.certificate = *std::move(cert);
  auto revocations = Revocations(name);
  if (!revocations.ok()) {
    info.status = revocations.status();
    return info;
  }
  const std::string serial = SerialText(info.certificate.serial_hex);
  info.revoked = std::any_of(revocations->begin(), revocations->end(),
                             [&](const RevocationRecord& r) { return r.serial == serial; });
  return info;
}

absl::StatusOr<std::vector<RevocationRecord>> LineageStore::Revocations(
    absl::string_view name) const {
  RETURN_IF_ERROR(ValidateLineageName(name));
  const std::string path = RevocationsPath(Paths(name));
  absl::StatusOr<std::string> text = ReadFile(path, kMaxPemBytes);
  if (text.status().code() == absl::StatusCode::kNotFound) {
    return std::vector<RevocationRecord>();
  }
  if (!text.ok()) return text.status();
  return ParseRevocations(*text, path);
}

absl::Status LineageStore::RecordRevocation(absl::string_view name,
                                            const RevocationRecord& record) {
  RETURN_IF_ERROR(ValidateLineageName(name));
  const std::optional<std::string> serial = NormalizeSerial(record.serial);
  if (!serial.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("revoked serial \"", record.serial, "\" is not hexadecimal"));
  }
  if (record.reason.empty() || absl::StrContains(record.reason, ' ') ||
      absl::StrContains(record.reason, '\n')) {
    return absl::InvalidArgumentError(
        absl::StrCat("revocation reason \"", record.reason, "\" must be one word"));
  }
  const LineagePaths paths = Paths(name);
  struct stat st;
  if (::stat(paths.archive_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("no certificate named ", name, " (", paths.archive_dir, " does not exist)"));
  }
  const std::string path = RevocationsPath(paths);
  std::string text;
  if (absl::StatusOr<std::string> existing = ReadFile(path, kMaxPemBytes); existing.ok()) {
    text = *std::move(existing);
  } else if (existing.status().code() != absl::StatusCode::kNotFound) {
    return existing.status();
  }
  ASSIGN_OR_RETURN(std::vector<RevocationRecord> records, ParseRevocations(text, path));
  for (const RevocationRecord& r : records) {
    if (r.serial == *serial) return absl::OkStatus();
  }
  if (!text.empty() && text.back() != '\n') text.push_back('\n');
  absl::StrAppend(&text, *serial, " ",
                  absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", record.time, absl::UTCTimeZone()), " ",
                  record.reason, "\n");
  return WriteFileAtomically(path, text, 0644);
}

absl::Status LineageStore::Delete(absl::string_view name) {
  RETURN_IF_ERROR(ValidateLineageName(name));
  const LineagePaths paths = Paths(name);
  struct stat st;
  const bool has_live = ::lstat(paths.live_dir.c_str(), &st) == 0;
  const bool live_is_dir = has_live && S_ISDIR(st.st_mode);
  const bool has_archive = ::lstat(paths.archive_dir.c_str(), &st) == 0;
  const bool has_conf = ::lstat(paths.renewal_conf.c_str(), &st) == 0;
  if (!has_live && !has_archive && !has_conf) {
    return absl::NotFoundError(absl::StrCat("no certificate named ", name, " in ", config_dir_));
  }
  const std::string live = config_dir_ + "/live";
  if (has_live) {
    if (live_is_dir) {
      RETURN_IF_ERROR(RemoveTree(paths.live_dir));  // made by certbot
    } else if (::unlink(paths.live_dir.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("cannot remove ", paths.live_dir));
    }
    RETURN_IF_ERROR(SyncDirectory(live));
  }
  if (::unlink(paths.renewal_conf.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("cannot remove ", paths.renewal_conf));
  }
  // Link directories .NAME.vN and a leftover .NAME.next of an interrupted switch.
  std::error_code ec;
  const std::string prefix = absl::StrCat(".", name, ".v");
  const std::string next = absl::StrCat(".", name, ".next");
  for (const auto& entry : fs::directory_iterator(live, ec)) {
    const std::string file = entry.path().filename().string();
    if (file == next || VersionOf(file, prefix, "").has_value()) {
      RETURN_IF_ERROR(RemoveTree(entry.path().string()));
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoStatus(ec.value(), absl::StrCat("cannot list ", live));
  }
  RETURN_IF_ERROR(RemoveTree(paths.archive_dir));
  for (const char* dir : {"/live", "/archive", "/renewal"}) {
    const std::string path = config_dir_ + dir;
    if (::stat(path.c_str(), &st) == 0) RETURN_IF_ERROR(SyncDirectory(path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LineageInfo>> LineageStore::List() const {
  const std::string live = config_dir_ + "/live";
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(live, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.empty() || file.front() == '.' || file == "README") continue;
    if (!ValidateLineageName(file).ok()) continue;
    names.push_back(file);
  }
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return std::vector<LineageInfo>();
    return ErrnoStatus(ec.value(), absl::StrCat("cannot list ", live));
  }
  std::sort(names.begin(), names.end());
  std::vector<LineageInfo> out;
  for (const std::string& name : names) {
    auto info = Get(name);
    if (info.ok()) {
      out.push_back(*std::move(info));
    } else {
      LineageInfo broken;
      broken.name = name;
      broken.paths = Paths(name);
      broken.status = info.status();
      out.push_back(std::move(broken));
    }
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> LineageStore::FindByHeldNames(
    const std::function<bool(const std::set<std::string>&)>& matches) const {
  ASSIGN_OR_RETURN(std::vector<LineageInfo> lineages, List());
  for (const LineageInfo& lineage : lineages) {
    if (!lineage.status.ok()) continue;
    const std::vector<std::string>& held = lineage.certificate.dns_names;
    if (matches(std::set<std::string>(held.begin(), held.end()))) return lineage.name;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> LineageStore::FindByNames(
    const std::vector<std::string>& names) const {
  const std::set<std::string> wanted(names.begin(), names.end());
  return FindByHeldNames([&wanted](const std::set<std::string>& have) { return have == wanted; });
}

absl::StatusOr<std::optional<std::string>> LineageStore::FindSubsetOfNames(
    const std::vector<std::string>& names) const {
  const std::set<std::string> wanted(names.begin(), names.end());
  return FindByHeldNames([&wanted](const std::set<std::string>& have) {
    return have.size() < wanted.size() &&
           std::includes(wanted.begin(), wanted.end(), have.begin(), have.end());
  });
}

absl::StatusOr<std::string> LineageStore::UnusedName(absl::string_view base) const {
  RETURN_IF_ERROR(ValidateLineageName(base));
  const auto in_use = [this](const std::string& name) {
    const LineagePaths paths = Paths(name);
    std::error_code ec;
    return fs::symlink_status(paths.live_dir, ec).type() != fs::file_type::not_found ||
           fs::symlink_status(paths.archive_dir, ec).type() != fs::file_type::not_found ||
           fs::symlink_status(paths.renewal_conf, ec).type() != fs::file_type::not_found;
  };
  std::string name(base);
  for (int n = 1; n <= 9999 && in_use(name); ++n) {
    name = absl::StrFormat("%s-%04d", base, n);
  }
  if (in_use(name)) {
    return absl::ResourceExhaustedError(absl::StrCat("every lineage name from ", base, " to ", base,
                                                     "-9999 is taken; give --cert-name"));
  }
  RETURN_IF_ERROR(ValidateLineageName(name));
  return name;
}

absl::Status LineageStore::WriteRenewalConfig(absl::string_view name, const RenewalConfig& config) {
  RETURN_IF_ERROR(ValidateLineageName(name));
  RETURN_IF_ERROR(EnsureBaseDirectories());
  const LineagePaths paths = Paths(name);
  ASSIGN_OR_RETURN(std::string text,
                   SerializeRenewalConfig(config, {paths.archive_dir, paths.cert, paths.privkey,
                                                   paths.chain, paths.fullchain}));
  // No secrets inside (the PFX password lives in its own file), so readable like certbot's.
  return WriteFileAtomically(paths.renewal_conf, text, 0644);
}

absl::StatusOr<RenewalConfig> LineageStore::ReadRenewalConfig(absl::string_view name) const {
  RETURN_IF_ERROR(ValidateLineageName(name));
  const std::string path = Paths(name).renewal_conf;
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxPemBytes));
  return ParseRenewalConfig(text, path);
}

}  // namespace acme_signer::agent
