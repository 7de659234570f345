/**
 * What the sentinel tells a node about the master: register replies, report acks, and the
 * commands that correct a node whose picture is wrong.
 *
 * @module
 */
import { log } from "./_log.ts";
import { addressOf, type NodeRecord } from "./_node_record.ts";
import type {
  ChangeMasterAction,
  Peer,
  RegisterReplyAction,
  ReportAckAction,
  Role,
  SentinelAction,
} from "./types.ts";

/** The sentinel's master and epochs, as its replies and commands name them. */
export interface Leadership {
  /** The master's record, if the cluster has one. */
  readonly master: NodeRecord | undefined;
  /** The epoch the master was elected or recognised at. */
  readonly masterEpoch: number;
  /** The cluster epoch. */
  readonly epoch: number;
}

/** A `register_reply` naming the master, if any. */
export function registerReply(
  leadership: Leadership,
  reply: { peer: Peer; nodeId: string; accepted: boolean; reason: string; role: Role },
): RegisterReplyAction {
  const { master } = leadership;
  return {
    type: "register_reply",
    peer: reply.peer,
    nodeId: reply.nodeId,
    accepted: reply.accepted,
    reason: reply.reason,
    role: reply.role,
    ...(master === undefined ? {} : { master: addressOf(master) }),
    // The epoch of the master named (a node must not take an old master at a newer epoch).
    epoch: namedEpoch(leadership),
  };
}

/** A `report_ack` naming the master, if any. */
export function reportAck(
  leadership: Leadership,
  ack: { peer: Peer; nodeId: string; known: boolean },
): ReportAckAction {
  const { master } = leadership;
  return {
    type: "report_ack",
    peer: ack.peer,
    nodeId: ack.nodeId,
    known: ack.known,
    ...(master === undefined ? {} : { master: addressOf(master) }),
    epoch: namedEpoch(leadership),
  };
}

/** A `change_master` telling `r` to follow `master`. */
export function changeMaster(
  r: NodeRecord,
  leader: { master: NodeRecord; masterEpoch: number },
): ChangeMasterAction {
  return {
    type: "change_master",
    peer: r.peer,
    nodeId: r.nodeId,
    master: addressOf(leader.master),
    epoch: leader.masterEpoch,
  };
}

/** Tells a node that wrongly believes it is master to step down and follow the real one. */
export function stepDown(
  leadership: Leadership,
  claim: { peer: Peer; nodeId: string; claimed: number },
): SentinelAction[] {
  const { master, masterEpoch } = leadership;
  if (master === undefined) return [];
  const { peer, nodeId, claimed } = claim;
  return [
    log(
      "warn",
      `${nodeId} claims to be master at epoch ${claimed} but is not: told to step down`,
      {
        nodeId,
        claimedEpoch: claimed,
        masterId: master.nodeId,
        masterEpoch,
      },
    ),
    {
      type: "change_master",
      peer,
      nodeId,
      master: addressOf(master),
      epoch: masterEpoch,
    },
  ];
}

/**
 * Commands for a live node whose report (`claimed` role at `epoch`) contradicts the registry (a
 * command was lost); points the record at the master it is told to follow.
 */
export function corrections(
  leadership: Leadership,
  report: { record: NodeRecord; claimed: Role; epoch: number },
): SentinelAction[] {
  const { master, masterEpoch } = leadership;
  const { record, claimed, epoch } = report;
  if (master === record) {
    // The convert_to_master may have been dropped: repeat it (it is idempotent).
    return claimed === "master" ? [] : [{
      type: "convert_to_master",
      peer: record.peer,
      nodeId: record.nodeId,
      epoch: masterEpoch,
    }];
  }
  if (claimed === "master") {
    if (master !== undefined) {
      record.follows = master.nodeId;
      return stepDown(leadership, { peer: record.peer, nodeId: record.nodeId, claimed: epoch });
    }
    return [log("warn", `${record.nodeId} claims to be master but is not`, {
      nodeId: record.nodeId,
      claimedEpoch: epoch,
      epoch: leadership.epoch,
    })];
  }
  if (master !== undefined && (epoch < masterEpoch || record.follows !== master.nodeId)) {
    // A dropped change_master: repeat it.
    record.follows = master.nodeId;
    return [changeMaster(record, { master, masterEpoch })];
  }
  return [];
}

/** The epoch a reply carries: the master's, or the cluster's without a master. */
function namedEpoch(leadership: Leadership): number {
  return leadership.master === undefined ? leadership.epoch : leadership.masterEpoch;
}
