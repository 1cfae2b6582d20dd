// SPDX-License-Identifier: MIT
#include "daemon/server/descriptor_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <string>

#include "gtest/gtest.h"

namespace switchboard::server {
namespace {

// What clients can make the broker hold never reaches into the reserve.
void ExpectFits(const DescriptorBudget& budget) {
  EXPECT_LE(budget.max_connections + budget.max_fds_in_flight + budget.reserve,
            budget.table);
  EXPECT_LT(budget.max_connections_per_uid, budget.max_connections);
  EXPECT_LE(budget.max_unauthenticated, budget.max_connections_per_uid);
  EXPECT_LE(budget.max_fds_in_flight_per_receiver, budget.max_fds_in_flight);
  EXPECT_GT(budget.max_fds_in_flight_per_receiver, 0u);
}

TEST(DescriptorBudgetTest, SharesOutTheTable) {
  for (size_t table : {1024u, 4096u, 20000u, 524288u}) {
    SCOPED_TRACE(table);
    ExpectFits(DescriptorBudget::ForTable(table));
  }
  const DescriptorBudget shell = DescriptorBudget::ForTable(1024);
  EXPECT_GT(shell.max_connections, 300u);
  // systemd's default hard limit: more than 10,000 connections, and no
  // receiver holds more than 1024 descriptors.
  const DescriptorBudget systemd = DescriptorBudget::ForTable(524288);
  EXPECT_GT(systemd.max_connections, 10000u);
  EXPECT_EQ(systemd.max_fds_in_flight_per_receiver, 1024u);
  EXPECT_EQ(systemd.max_unauthenticated, 64u);
}

TEST(DescriptorBudgetTest, ATinyTableStillGetsAWorkingBroker) {
  const DescriptorBudget budget = DescriptorBudget::ForTable(100);
  EXPECT_GE(budget.max_connections, 8u);
  EXPECT_GE(budget.max_fds_in_flight, 4u);
  EXPECT_GE(budget.max_connections_per_uid, 1u);
}

TEST(DescriptorBudgetTest, RaisesTheSoftLimitToTheHardOne) {
  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct rlimit lowered = saved;
  lowered.rlim_cur = std::min<rlim_t>(saved.rlim_max, 512);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  std::string note;
  const size_t raised = RaiseDescriptorLimit(&note);
  EXPECT_TRUE(note.empty()) << note;
  struct rlimit now;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, saved.rlim_max);
  EXPECT_EQ(raised, static_cast<size_t>(saved.rlim_max));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
}

}  // namespace
}  // namespace switchboard::server
