#include "common/thread_name.h"

#include <pthread.h>

#include <cstring>
#include <string>

namespace wavebot {

void SetThreadName(const char* name) {
  std::string n(name, strnlen(name, 15));
  (void)pthread_setname_np(pthread_self(), n.c_str());  // best effort: a name is only a label
}

}  // namespace wavebot
