// How many bytes a connection asks its socket for per read. Free of CAF, like the rest of wire/.
//
// CAF's stream zero-fills its receive buffer up to the size asked for before every read (the
// scribe shrinks the buffer to the bytes received, and the next read resizes it back), so a
// 64 KiB buffer costs a 64 KiB memset per read even when the read brings one 34-byte request.
// The size follows the traffic instead: it doubles when a read fills it (a stream is flowing:
// few large reads) and halves when a read used under an eighth of it (a request at a time).
#pragma once

#include <cstddef>

namespace troupe::wire {

class read_size {
public:
  /// A page: a few small frames at a time still fit in one read.
  static constexpr size_t smallest = 4 * 1024;
  static constexpr size_t largest = 64 * 1024;

  size_t bytes() const noexcept {
    return bytes_;
  }

  /// A read brought `n` bytes; true if bytes() changed.
  bool after_read(size_t n) noexcept {
    auto before = bytes_;
    if (n >= bytes_ && bytes_ < largest)
      bytes_ *= 2;
    else if (n < bytes_ / 8 && bytes_ > smallest)
      bytes_ /= 2;
    return bytes_ != before;
  }

private:
  size_t bytes_ = smallest;
};

}  // namespace troupe::wire
