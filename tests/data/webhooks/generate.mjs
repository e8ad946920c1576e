// Derives sub_issues and issue_dependencies payloads (absent from @octokit/webhooks-examples) from
// real objects in webhooks-examples and checks each against its JSON schema in
// @octokit/openapi-webhooks with ajv. Run from the repository root:
//   node tests/data/webhooks/generate.mjs
// It rewrites tests/data/webhooks/*.json and fails if any payload does not validate.
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../../contract/package.json"));
const Ajv = require("ajv");
const addFormats = require("ajv-formats");
const spec = require("@octokit/openapi-webhooks/generated/api.github.com.json");
const examples = require("@octokit/webhooks-examples/api.github.com/index.json");

const example = (name, action) =>
  structuredClone(examples.find((e) => e.name === name).examples.find((x) => x.action === action));
const opened = example("issues", "opened");
const issueA = { ...opened.issue, number: 1, id: 1001, title: "Epic: ship the thing" };
const issueB = { ...opened.issue, number: 2, id: 1002, title: "Ticket: first part" };
const repository = opened.repository;
const base = { repository, sender: opened.sender, installation: { id: 42, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI=" } };
// `#/components/schemas/repository` (the *_repo fields) is the REST shape; fill what webhooks omit.
const restRepo = {
  ...repository,
  allow_auto_merge: false, allow_merge_commit: true, allow_rebase_merge: true, allow_squash_merge: true,
  allow_update_branch: false, delete_branch_on_merge: false, squash_merge_commit_title: "COMMIT_OR_PR_TITLE",
  squash_merge_commit_message: "COMMIT_MESSAGES", merge_commit_title: "MERGE_MESSAGE",
  merge_commit_message: "PR_TITLE", use_squash_pr_title_as_default: false, web_commit_signoff_required: false,
};
for (const k of ["stargazers", "master_branch", "organization", "public", "custom_properties"]) delete restRepo[k];
restRepo.created_at = "2019-05-15T15:19:25Z";
restRepo.pushed_at = "2019-05-15T15:20:32Z";

const payloads = {
  "sub_issues.sub_issue_added": { action: "sub_issue_added", sub_issue_id: 1002, sub_issue: issueB, sub_issue_repo: restRepo, parent_issue_id: 1001, parent_issue: issueA, ...base },
  "sub_issues.sub_issue_removed": { action: "sub_issue_removed", sub_issue_id: 1002, sub_issue: issueB, sub_issue_repo: restRepo, parent_issue_id: 1001, parent_issue: issueA, ...base },
  "sub_issues.parent_issue_added": { action: "parent_issue_added", parent_issue_id: 1001, parent_issue: issueA, parent_issue_repo: restRepo, sub_issue_id: 1002, sub_issue: issueB, ...base },
  "sub_issues.parent_issue_removed": { action: "parent_issue_removed", parent_issue_id: 1001, parent_issue: issueA, parent_issue_repo: restRepo, sub_issue_id: 1002, sub_issue: issueB, ...base },
  "issue_dependencies.blocked_by_added": { action: "blocked_by_added", blocked_issue_id: 1002, blocked_issue: issueB, blocking_issue_id: 1001, blocking_issue: issueA, blocking_issue_repo: restRepo, organization: orgOf(), ...base },
  "issue_dependencies.blocked_by_removed": { action: "blocked_by_removed", blocked_issue_id: 1002, blocked_issue: issueB, blocking_issue_id: 1001, blocking_issue: issueA, blocking_issue_repo: restRepo, organization: orgOf(), ...base },
  "issue_dependencies.blocking_added": { action: "blocking_added", blocked_issue_id: 1002, blocked_issue: issueB, blocked_issue_repo: restRepo, blocking_issue_id: 1001, blocking_issue: issueA, organization: orgOf(), ...base },
  "issue_dependencies.blocking_removed": { action: "blocking_removed", blocked_issue_id: 1002, blocked_issue: issueB, blocked_issue_repo: restRepo, blocking_issue_id: 1001, blocking_issue: issueA, organization: orgOf(), ...base },
};
function orgOf() {
  return { login: "Octocoders", id: 33, node_id: "MDEyOk9yZ2FuaXphdGlvbjMz", url: "https://api.github.com/orgs/Octocoders",
    repos_url: "https://api.github.com/orgs/Octocoders/repos", events_url: "https://api.github.com/orgs/Octocoders/events",
    hooks_url: "https://api.github.com/orgs/Octocoders/hooks", issues_url: "https://api.github.com/orgs/Octocoders/issues",
    members_url: "https://api.github.com/orgs/Octocoders/members{/member}",
    public_members_url: "https://api.github.com/orgs/Octocoders/public_members{/member}",
    avatar_url: "https://avatars1.githubusercontent.com/u/33?v=4", description: "" };
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: "spec", components: spec.components });
let failed = false;
for (const [name, payload] of Object.entries(payloads)) {
  const [event, action] = name.split(".");
  const key = `${event.replace(/_/g, "-")}-${action.replace(/_/g, "-")}`;
  const ref = spec.webhooks[key].post.requestBody.content["application/json"].schema.$ref.replace("#", "spec#");
  const validate = ajv.getSchema(ref);
  if (!validate(payload)) {
    failed = true;
    console.error(name, JSON.stringify(validate.errors.slice(0, 5), null, 1));
  }
  writeFileSync(join(here, `${name}.json`), JSON.stringify(payload, null, 2) + "\n");
}
if (failed) process.exit(1);
console.log(`wrote ${Object.keys(payloads).length} payloads, all valid against @octokit/openapi-webhooks`);
