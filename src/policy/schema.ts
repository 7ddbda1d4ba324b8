/**
 * The policy language (docs/policies.md): YAML documents of kind Policy.
 * This schema is what a document must look like; compile.ts then checks what
 * this machine can enforce and turns the rules into matchers and kernel maps.
 */
import { Type, type Static } from "@sinclair/typebox";
import { ACTION_NAMES } from "../abi/layout";
import { SEVERITIES, type Severity } from "../events/records";

export { SEVERITIES, type Severity };

const Name = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description: "letters, digits, . _ -; 64 at most" });
const NonEmptyList = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>>(item: T) => Type.Array(item, { minItems: 1, maxItems: 4096 });

export const ACCESS_KINDS = ["read", "write", "exec"] as const;
export type AccessKind = (typeof ACCESS_KINDS)[number];
const AccessKindSchema = Type.Union(ACCESS_KINDS.map((k) => Type.Literal(k)));

export const EVENT_KINDS = ["exec", "open", "connect", "fork", "exit", "cred", "tool_call", "llm_call"] as const;
/** The actions a rule may take: the kernel's list (enum vigil_action), so the two cannot differ. */
export const ACTIONS = ACTION_NAMES;

export const MatchSchema = Type.Object(
  {
    event: Type.Union(EVENT_KINDS.map((k) => Type.Literal(k))),
    /** exec: the new program; other events: the process's current program. Exact paths or globs. */
    binary: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 512 }))),
    /** exec: the new program; other events: the process's current program. Matches none of these. */
    notBinary: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 512 }))),
    /** exec: any argument contains any of these strings. */
    argv: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 512 }))),
    /** open: path globs (`*` stays within a directory, `**` crosses them). `${WORKSPACE}` is the run's workspace. */
    path: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 512 }))),
    /** open: the path matches none of these globs (with action deny: the paths allowed, enforced by Landlock). */
    notPath: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 512 }))),
    /** open: what the open asks for (read, write, exec); default any. */
    access: Type.Optional(Type.Union([AccessKindSchema, Type.Array(AccessKindSchema, { minItems: 1, maxItems: 3 })])),
    /** connect: destination in one of these networks. */
    cidr: Type.Optional(NonEmptyList(Type.String({ minLength: 2, maxLength: 64 }))),
    /** connect: destination in none of these networks. */
    notCidr: Type.Optional(NonEmptyList(Type.String({ minLength: 2, maxLength: 64 }))),
    /**
     * connect: the destination was learned, from a DNS answer this agent received, for one of these names
     * (`name`, or `*.name` for any name below it).
     */
    domain: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 255 }))),
    /** connect: the destination was not learned from a DNS answer for any of these names (an allowlist with action deny). */
    notDomain: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 255 }))),
    /** connect: destination port is one of these. */
    port: Type.Optional(NonEmptyList(Type.Integer({ minimum: 0, maximum: 65535 }))),
    /** the process's real uid is one of these. */
    uid: Type.Optional(NonEmptyList(Type.Integer({ minimum: 0, maximum: 0xffffffff }))),
    /** the process's command name (comm, 15 characters) matches one of these globs. */
    comm: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 64 }))),
    /** tool_call: the tool's name matches one of these globs. */
    tool: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 128 }))),
    /** tool_call: the arguments the model gave contain any of these strings. */
    argumentsContain: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 512 }))),
    /** llm_call: the API host (the Host header, with its port if any) matches one of these globs. */
    host: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 256 }))),
    /** llm_call: the model matches one of these globs. */
    model: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 256 }))),
  },
  { additionalProperties: false },
);

export const RuleSchema = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    match: MatchSchema,
    action: Type.Union(ACTIONS.map((a) => Type.Literal(a))),
    severity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
  },
  { additionalProperties: false },
);

export const PolicySchema = Type.Object(
  {
    apiVersion: Type.Literal("vigil/v1"),
    kind: Type.Literal("Policy"),
    metadata: Type.Object({ name: Name, description: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: false }),
    spec: Type.Object(
      {
        /** Agent names or globs; default every agent. Events of no agent are never matched. */
        agents: Type.Optional(NonEmptyList(Type.String({ minLength: 1, maxLength: 64 }))),
        rules: Type.Optional(Type.Array(RuleSchema, { minItems: 1, maxItems: 1024 })),
        /** enforce (default): actions are carried out; shadow: decisions are findings (would-deny, would-kill ...) and nothing is enforced. */
        mode: Type.Optional(Type.Union([Type.Literal("enforce"), Type.Literal("shadow")])),
        /**
         * Tokens (in and out, from the usage the model reports) each of the policy's agents may spend; once
         * an agent has spent them, the action is taken (once; alert, kill, freeze or kill-tree).
         */
        budget: Type.Optional(
          Type.Object(
            {
              tokens: Type.Integer({ minimum: 1, maximum: 1e12 }),
              action: Type.Union((["alert", "kill", "freeze", "kill-tree"] as const).map((a) => Type.Literal(a))),
              severity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type Match = Static<typeof MatchSchema>;
export type Rule = Static<typeof RuleSchema>;
export type Policy = Static<typeof PolicySchema>;
export type EventKind = (typeof EVENT_KINDS)[number];
