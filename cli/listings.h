// SPDX-License-Identifier: MIT
//
// The broker's listings whole: switchboard.Broker/ListNames and
// ListConnections answer a page at a time (docs/PROTOCOL.md 5.6), and these
// ask for page after page, each after the last page's next_page_token,
// until one comes without. Names that come or go meanwhile may or may not
// be listed; every name there throughout is listed exactly once.
#ifndef SWITCHBOARD_CLI_LISTINGS_H_
#define SWITCHBOARD_CLI_LISTINGS_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "switchboard/client.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::cli {

// Every page of ListNames, in one NameList (next_page_token empty), all
// within `timeout`. Errors: those of Client::Call for any page
// (kDeadlineExceeded once `timeout` has passed); kInternal if the broker
// hands back the token it was given (the pages would never end).
absl::StatusOr<v1::NameList> ListEveryName(Client& client,
                                           absl::Duration timeout);

// Every page of ListConnections, as ListEveryName.
absl::StatusOr<v1::ConnectionList> ListEveryConnection(Client& client,
                                                       absl::Duration timeout);

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_LISTINGS_H_
