#!/usr/bin/env bash
# wavebot's demo agent: implements a ticket from a machine-readable spec in its prompt, so that the
# sandbox and the tests exercise the whole loop without a real coding agent. bash + coreutils only.
#
# It reads the prompt file ($WAVEBOT_PROMPT_FILE, else stdin), takes the FIRST fenced block whose info
# string is `wavebot-demo`, and runs its directives, one per line, in the current directory (the
# ticket's worktree). Format (docs/agents.md has the full description):
#
#   write <path> <<TAG        the following lines up to a line "TAG" become the file's content
#   append <path> <text...>   appends one line
#   delete <path>             removes a file
#   commit <message...>       commits everything itself with git (as "Demo Agent")
#   say <text...>             prints a line (shows up in the agent log)
#   fail [status]             exits with status (default 1) after printing an error
#   crash                     dies of SIGSEGV
#   hang                      never finishes (and leaves a sleeping grandchild behind)
#   rate-limit                prints "429 Too Many Requests: rate limit exceeded" and exits 1
#
# Any directive may be prefixed with conditions, all of which must hold:
#   @attempt=N  @attempt>N  @attempt<N   (WAVEBOT_ATTEMPT)      @mode=M  @mode!=M   (WAVEBOT_MODE)
# e.g. "@attempt=1 write calc.sh <<EOF" ... to get it wrong on the first attempt.
# Paths must be relative and must not contain "..".
set -u

prompt="${WAVEBOT_PROMPT_FILE:-/dev/stdin}"
attempt="${WAVEBOT_ATTEMPT:-1}"
mode="${WAVEBOT_MODE:-implement}"

die() { echo "demo-agent: $*" >&2; exit 2; }

[ -r "$prompt" ] || die "cannot read the prompt file '$prompt'"

# Extract the first ```wavebot-demo block.
spec=()
in_block=0
found=0
while IFS= read -r line || [ -n "$line" ]; do
  if [ $in_block -eq 0 ]; then
    if [[ "$line" =~ ^[[:space:]]*\`\`\`wavebot-demo[[:space:]]*$ ]]; then in_block=1; found=1; fi
  else
    if [[ "$line" =~ ^[[:space:]]*\`\`\`[[:space:]]*$ ]]; then break; fi
    spec+=("$line")
  fi
done < "$prompt"
[ $found -eq 1 ] || die "no \`\`\`wavebot-demo block in the prompt"

check_path() {
  case "$1" in
    ""|/*|..|../*|*/../*|*/..) die "refusing path '$1'" ;;
  esac
}

# conditions_hold "<@cond> ..." -> 0 when every condition holds
conditions_hold() {
  local c
  for c in "$@"; do
    case "$c" in
      @attempt=*) [ "$attempt" -eq "${c#@attempt=}" ] || return 1 ;;
      @attempt\>*) [ "$attempt" -gt "${c#@attempt>}" ] || return 1 ;;
      @attempt\<*) [ "$attempt" -lt "${c#@attempt<}" ] || return 1 ;;
      @mode!=*) [ "$mode" != "${c#@mode!=}" ] || return 1 ;;
      @mode=*) [ "$mode" = "${c#@mode=}" ] || return 1 ;;
      *) die "unknown condition '$c'" ;;
    esac
  done
  return 0
}

echo "demo-agent: ticket ${WAVEBOT_TICKET:-?} mode $mode attempt $attempt"
i=0
n=${#spec[@]}
while [ $i -lt $n ]; do
  line="${spec[$i]}"
  i=$((i + 1))
  [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
  read -r -a words <<< "$line"
  conds=()
  while [ ${#words[@]} -gt 0 ] && [[ "${words[0]}" == @* ]]; do
    conds+=("${words[0]}")
    words=("${words[@]:1}")
  done
  [ ${#words[@]} -gt 0 ] || continue
  verb="${words[0]}"
  run=1
  conditions_hold "${conds[@]+"${conds[@]}"}" || run=0
  case "$verb" in
    write)
      path="${words[1]:-}"
      [[ "${words[2]:-}" == "<<"* ]] || die "write needs '<<TAG': $line"
      tag="${words[2]#<<}"
      content=""
      closed=0
      while [ $i -lt $n ]; do
        l="${spec[$i]}"
        i=$((i + 1))
        if [ "$l" = "$tag" ]; then closed=1; break; fi
        content+="$l"$'\n'
      done
      [ $closed -eq 1 ] || die "write $path: no closing '$tag'"
      if [ $run -eq 1 ]; then
        check_path "$path"
        mkdir -p "$(dirname -- "$path")"
        printf '%s' "$content" > "$path"
        echo "demo-agent: wrote $path"
      fi
      ;;
    append)
      [ $run -eq 1 ] || continue
      path="${words[1]:-}"
      check_path "$path"
      mkdir -p "$(dirname -- "$path")"
      printf '%s\n' "${words[*]:2}" >> "$path"
      echo "demo-agent: appended to $path"
      ;;
    delete)
      [ $run -eq 1 ] || continue
      check_path "${words[1]:-}"
      rm -f -- "${words[1]}"
      echo "demo-agent: deleted ${words[1]}"
      ;;
    commit)
      [ $run -eq 1 ] || continue
      git add -A && git -c user.name="Demo Agent" -c user.email=demo-agent@example.invalid \
        commit -q -m "${words[*]:1}" || die "git commit failed"
      ;;
    say)
      [ $run -eq 1 ] && echo "${words[*]:1}"
      ;;
    fail)
      [ $run -eq 1 ] || continue
      echo "demo-agent: failing as told" >&2
      exit "${words[1]:-1}"
      ;;
    crash)
      [ $run -eq 1 ] || continue
      echo "demo-agent: crashing as told" >&2
      kill -SEGV $$
      ;;
    hang)
      [ $run -eq 1 ] || continue
      echo "demo-agent: hanging as told"
      sleep 100000 &
      echo "demo-agent: grandchild $!"
      while :; do sleep 100000; done
      ;;
    rate-limit)
      [ $run -eq 1 ] || continue
      echo "Error: 429 Too Many Requests: rate limit exceeded, try again later" >&2
      exit 1
      ;;
    *)
      die "unknown directive '$verb'"
      ;;
  esac
done
echo "demo-agent: done"
exit 0
