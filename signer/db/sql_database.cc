#include "signer/db/sql_database.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace acme_signer::signer::db {

std::string SqlValue::AsText() const {
  if (const auto* text = std::get_if<std::string>(&value_)) return *text;
  if (const auto* number = std::get_if<int64_t>(&value_)) return absl::StrCat(*number);
  return "";
}

int64_t SqlValue::AsInteger() const {
  if (const auto* number = std::get_if<int64_t>(&value_)) return *number;
  return 0;
}

SqlRows::SqlRows(int columns, std::vector<std::optional<std::string>> cells, int64_t affected)
    : columns_(columns), cells_(std::move(cells)), affected_(affected) {}

const std::optional<std::string>& SqlRows::Cell(int row, int col) const {
  static const std::optional<std::string> kOutside;
  if (row < 0 || col < 0 || col >= columns_ || row >= size()) return kOutside;
  return cells_[static_cast<size_t>(row) * static_cast<size_t>(columns_) +
                static_cast<size_t>(col)];
}

bool SqlRows::IsNull(int row, int col) const { return !Cell(row, col).has_value(); }

const std::string& SqlRows::Text(int row, int col) const {
  static const std::string kEmpty;
  const std::optional<std::string>& cell = Cell(row, col);
  return cell.has_value() ? *cell : kEmpty;
}

int64_t SqlRows::Int(int row, int col) const {
  int64_t value = 0;
  if (!absl::SimpleAtoi(Text(row, col), &value)) return 0;
  return value;
}

std::optional<std::string> SqlRows::Optional(int row, int col) const { return Cell(row, col); }

absl::Status RunInTransaction(SqlDatabase& db, absl::string_view context,
                              absl::FunctionRef<absl::Status()> body) {
  // Bounded: a conflict that persists is reported, not retried forever.
  constexpr int kAttempts = 3;
  absl::Status status;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    status = db.Begin(context);
    if (!status.ok()) return status;
    status = body();
    if (status.ok()) status = db.Commit(context);
    if (status.ok()) return status;
    db.Rollback();
    if (status.code() != absl::StatusCode::kAborted) return status;
  }
  return status;
}

}  // namespace acme_signer::signer::db
