// SPDX-License-Identifier: MIT
//
// A shared library built with default visibility, exporting an internal
// name next to a public one: tests/install/check_exports must name the
// first and accept the second (check_exports_test).
namespace switchboard {
namespace wire {
int LeakedFrameSize() { return 1; }
}  // namespace wire
int PublicLooking() { return wire::LeakedFrameSize(); }
}  // namespace switchboard
