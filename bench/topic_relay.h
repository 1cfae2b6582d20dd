// SPDX-License-Identifier: MIT
//
// The topic workloads' floor-relay: the least a broker could do to deliver
// one publisher's stream to its subscribers. A single-threaded,
// level-triggered epoll loop over non-blocking sockets reads up to 64 KiB
// from the publisher and writes those bytes to every subscriber, and reads
// more only once every subscriber has taken them all, so a slow subscriber
// slows the publisher and nothing is dropped. It forwards bytes without
// looking at message boundaries: the publisher's framing passes through.
#ifndef SWITCHBOARD_BENCH_TOPIC_RELAY_H_
#define SWITCHBOARD_BENCH_TOPIC_RELAY_H_

#include <vector>

namespace switchboard::bench {

// Role "topic-relay": relays from `publisher_fd` to each of `subscriber_fds`
// until the publisher closes its socket and everything read has been
// written. Prints "ready" on stdout first. Returns the exit code.
int RunTopicRelay(int publisher_fd, const std::vector<int>& subscriber_fds);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_TOPIC_RELAY_H_
