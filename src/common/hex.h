// Hexadecimal digits, shared by the parsers that read them (webhook signatures, git's pkt-line lengths).
#pragma once

namespace wavebot {

// The value of one hexadecimal digit (either case), or -1 for any other character.
inline int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace wavebot
