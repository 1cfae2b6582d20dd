// SPDX-License-Identifier: MIT
#include "listings.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "broker.h"
#include "switchboard/status_macros.h"

namespace switchboard::cli {
namespace {

template <typename Request, typename Reply>
absl::StatusOr<Reply> CallEveryPage(Client& client, absl::string_view method,
                                    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  Request request;  // page_size 0: the broker's default
  Reply all;
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          kBrokerService, "/", method, " did not give every page within ",
          absl::FormatDuration(timeout)));
    }
    SB_ASSIGN_OR_RETURN(
        Reply page, client.Call<Reply>(kBrokerService, method, request, left));
    std::string token = std::move(*page.mutable_next_page_token());
    page.clear_next_page_token();
    all.MergeFrom(page);
    if (token.empty()) return all;
    if (token == request.page_token()) {
      return absl::InternalError(
          absl::StrCat(kBrokerService, "/", method,
                       " gave back the page token it was given"));
    }
    request.set_page_token(std::move(token));
  }
}

}  // namespace

absl::StatusOr<v1::NameList> ListEveryName(Client& client,
                                           absl::Duration timeout) {
  return CallEveryPage<v1::ListNamesRequest, v1::NameList>(client, "ListNames",
                                                           timeout);
}

absl::StatusOr<v1::ConnectionList> ListEveryConnection(Client& client,
                                                       absl::Duration timeout) {
  return CallEveryPage<v1::ListConnectionsRequest, v1::ConnectionList>(
      client, "ListConnections", timeout);
}

}  // namespace switchboard::cli
