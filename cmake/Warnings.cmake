set(WAVEBOT_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor -Wimplicit-fallthrough)
if(WAVEBOT_WERROR)
  list(APPEND WAVEBOT_WARNING_FLAGS -Werror)
endif()
