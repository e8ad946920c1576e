// Git's protocol v2 `ls-refs` command over smart HTTP (gitprotocol-v2, gitprotocol-http): how wavebot
// reads branch heads without spending the REST API's rate limit. One POST to
// <git base>/<owner>/<name>.git/git-upload-pack with "Git-Protocol: version=2" lists the refs under the
// requested prefixes; GitHub counts git traffic apart from the REST API's primary limit.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace wavebot::github {

// The request body: "command=ls-refs", a delimiter, one "ref-prefix refs/heads/<branch>" per branch, a
// flush. A prefix matches longer names too; ParseLsRefs's caller keeps the exact ones.
std::string LsRefsRequest(const std::vector<std::string>& branches);

// The answer's refs, name ("refs/heads/x") -> object id. Lines after the oid and name (symref-target,
// peeled) are ignored. kParse when the body is not a sequence of pkt-lines ending in a flush, or a line
// is not "<40 or 64 hex> <name>"; an "ERR" packet becomes kUnavailable with its text.
Result<std::map<std::string, std::string>> ParseLsRefs(std::string_view body);

}  // namespace wavebot::github
