/**
 * The part of a Google client library's JSON protos that one API version needs. A
 * gRPC client built by google-gax turns every service and message of its protos.json
 * into gRPC descriptors when it is constructed, and Secret Manager's carries every
 * version of the API (v1 and v1beta2) and descriptor.proto's option types; tvm's
 * client speaks v1 only. The build (build.ts) bundles the trimmed document in
 * place of the whole one.
 *
 * What stays: every type and service of the namespaces asked for, and whatever they
 * reach, as protobufjs resolves it (fields, map values, methods' request and
 * response), with the types nested in each. What goes: the rest, extensions included
 * (the options they declare are already parsed into each element's JSON, which keeps
 * them). A namespace asked for that is not there stops the build: a new version of the
 * library has moved what tvm calls.
 */
import protobuf from 'protobufjs';

/** protobufjs's JSON form of a .proto tree (the shape of a `protos.json`). */
export interface ProtoJson {
  options?: Record<string, unknown>;
  nested?: Record<string, ProtoJson>;
  [key: string]: unknown;
}

/** `json` with only `namespaces` (full names, e.g. `google.cloud.secretmanager.v1`) and what they reach. */
export function trimProtos(
  json: ProtoJson,
  namespaces: readonly string[],
): ProtoJson {
  const root = protobuf.Root.fromJSON(json);
  root.resolveAll();
  const kept = new Set<protobuf.ReflectionObject>();
  const keep = (o: protobuf.ReflectionObject): void => {
    if (kept.has(o)) return;
    kept.add(o);
    if (o instanceof protobuf.Service) {
      for (const m of o.methodsArray) {
        keep(m.resolvedRequestType!);
        keep(m.resolvedResponseType!);
      }
    } else if (o instanceof protobuf.Type) {
      for (const f of o.fieldsArray) if (f.resolvedType) keep(f.resolvedType);
      for (const n of o.nestedArray) keep(n);
    } else if (o instanceof protobuf.Namespace) {
      for (const n of o.nestedArray) keep(n);
    }
  };
  for (const name of namespaces) {
    const ns = root.lookup(name);
    if (!(ns instanceof protobuf.Namespace) || ns instanceof protobuf.Type) {
      throw new Error(`protos: no namespace ${name}`);
    }
    keep(ns);
  }
  const prune = (
    node: ProtoJson,
    ns: protobuf.NamespaceBase,
  ): ProtoJson | undefined => {
    if (kept.has(ns) && ns !== root) return node;
    const nested: Record<string, ProtoJson> = {};
    for (const [name, child] of Object.entries(node.nested ?? {})) {
      const o = ns.get(name);
      if (o && kept.has(o)) nested[name] = child;
      else if (
        o instanceof protobuf.Namespace &&
        !(o instanceof protobuf.Type)
      ) {
        const inner = prune(child, o);
        if (inner) nested[name] = inner;
      }
    }
    return Object.keys(nested).length ? {...node, nested} : undefined;
  };
  const out = prune(json, root);
  if (!out) throw new Error('protos: nothing kept');
  return out;
}
