// SPDX-License-Identifier: MIT
//
// Ring: a FIFO of T in one power-of-two array, for the session output
// queue's hot path. Unlike std::deque it allocates nothing while it stays
// within its capacity (std::deque allocates a node every few elements as
// they pass through), and it gives its memory back: it grows by doubling
// and, above kKeptCapacity slots, halves once it is no more than a quarter
// full, so it never holds more than four times its elements' worth of slots
// or kKeptCapacity, whichever is more. Keeping kKeptCapacity slots lets a
// queue that fills and drains every loop cycle (a subscriber's burst of
// messages) reuse its array instead of reallocating it up and down each
// time. New slots are default-initialized, not zero-filled. T must be
// default-constructible and movable; a slot not in use holds a default T.
#ifndef SWITCHBOARD_DAEMON_SERVER_RING_H_
#define SWITCHBOARD_DAEMON_SERVER_RING_H_

#include <cstddef>
#include <memory>
#include <utility>

#include "base/log.h"

namespace switchboard::server {

template <typename T>
class Ring {
 public:
  // The first allocation.
  static constexpr size_t kMinCapacity = 16;
  // The ring does not shrink below this many slots once it has them.
  static constexpr size_t kKeptCapacity = 1024;

  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }

  // The i-th element from the front; i < size().
  T& operator[](size_t i) { return slots_[(head_ + i) & (capacity_ - 1)]; }
  const T& operator[](size_t i) const {
    return slots_[(head_ + i) & (capacity_ - 1)];
  }
  T& front() { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }

  void push_back(T value) {
    if (size_ == capacity_) {
      Reallocate(capacity_ == 0 ? kMinCapacity : 2 * capacity_);
    }
    (*this)[size_] = std::move(value);
    ++size_;
  }

  void push_front(T value) {
    if (size_ == capacity_) {
      Reallocate(capacity_ == 0 ? kMinCapacity : 2 * capacity_);
    }
    head_ = (head_ + capacity_ - 1) & (capacity_ - 1);
    ++size_;
    front() = std::move(value);
  }

  void pop_front() {
    SB_CHECK(size_ > 0);
    front() = T();  // releases what the element held now
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
    MaybeShrink();
  }

  // Removes every element for which `remove` returns true, keeping the
  // order of the others.
  template <typename Predicate>
  void RemoveIf(Predicate remove) {
    size_t kept = 0;
    for (size_t i = 0; i < size_; ++i) {
      T& element = (*this)[i];
      if (remove(element)) continue;
      if (kept != i) (*this)[kept] = std::move(element);
      ++kept;
    }
    for (size_t i = kept; i < size_; ++i) (*this)[i] = T();
    size_ = kept;
    MaybeShrink();
  }

  void clear() {
    slots_.reset();
    capacity_ = 0;
    head_ = 0;
    size_ = 0;
  }

 private:
  void MaybeShrink() {
    while (capacity_ > kKeptCapacity && size_ <= capacity_ / 4) {
      Reallocate(capacity_ / 2);
    }
  }

  void Reallocate(size_t capacity) {
    // Default-initialized: value-initialization would zero-fill every slot
    // before its constructor runs.
    std::unique_ptr<T[]> slots(new T[capacity]);
    for (size_t i = 0; i < size_; ++i) slots[i] = std::move((*this)[i]);
    slots_ = std::move(slots);
    capacity_ = capacity;
    head_ = 0;
  }

  std::unique_ptr<T[]> slots_;
  size_t capacity_ = 0;  // 0 or a power of two
  size_t head_ = 0;      // slot of the front element
  size_t size_ = 0;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_RING_H_
