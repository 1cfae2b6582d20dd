// SPDX-License-Identifier: MIT
//
// SWITCHBOARD_EXPORT marks the public API of libswitchboard. The library is
// compiled with -fvisibility=hidden, so only what carries this macro (and
// the generated switchboard.v1 protocol messages) appears in the .so's
// dynamic symbol table; everything else stays internal and may change
// between releases without breaking applications.
//
// A class nested in an exported class is exported with it, so the library's
// private nested classes (Client::Impl and the like, defined in client/src)
// carry SWITCHBOARD_NO_EXPORT where they are defined.
#ifndef SWITCHBOARD_EXPORT_H_
#define SWITCHBOARD_EXPORT_H_

#if defined(__GNUC__) || defined(__clang__)
#define SWITCHBOARD_EXPORT __attribute__((visibility("default")))
#define SWITCHBOARD_NO_EXPORT __attribute__((visibility("hidden")))
#else
#define SWITCHBOARD_EXPORT
#define SWITCHBOARD_NO_EXPORT
#endif

#endif  // SWITCHBOARD_EXPORT_H_
