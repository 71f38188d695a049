/**
 * The part of a Google client library's JSON protos that tvm's calls need. A gRPC
 * client built by google-gax turns every service and message of its protos.json into
 * gRPC descriptors when it is constructed (@grpc/proto-loader's work, about a
 * millisecond a type, at every cold start), and Secret Manager's carries every
 * version of the API (v1 and v1beta2), every method of each, and descriptor.proto's
 * option types; the function calls one method of v1. The build (build.ts) bundles the
 * trimmed document in place of the whole one.
 *
 * What stays: what was named, a namespace whole or some methods of a service (the
 * service then has those methods only), and whatever they reach, as protobufjs
 * resolves it (fields, map values, methods' request and response), with the types
 * nested in each. What goes: the rest, extensions included (the options they declare
 * are already parsed into each element's JSON, which keeps them). A name that is not
 * there stops the build: a new version of the library has moved what tvm calls. The
 * client is built as before; a method the trimmed service lacks could not be called.
 */
import protobuf from 'protobufjs';

/** protobufjs's JSON form of a .proto tree (the shape of a `protos.json`). */
export interface ProtoJson {
  options?: Record<string, unknown>;
  nested?: Record<string, ProtoJson>;
  [key: string]: unknown;
}

/**
 * `json` with only `names` and what they reach. A name is a namespace (its full name,
 * e.g. `google.cloud.secretmanager.v1`: all of it), or a method of a service
 * (`google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion`: its
 * service keeps only the methods named so, with their types).
 */
export function trimProtos(
  json: ProtoJson,
  names: readonly string[],
): ProtoJson {
  const root = protobuf.Root.fromJSON(json);
  root.resolveAll();
  const kept = new Set<protobuf.ReflectionObject>();
  /** Services that keep only some of their methods: those. */
  const methodsOf = new Map<protobuf.Service, Set<string>>();
  const keepMethod = (m: protobuf.Method): void => {
    keep(m.resolvedRequestType!);
    keep(m.resolvedResponseType!);
  };
  const keep = (o: protobuf.ReflectionObject): void => {
    if (kept.has(o)) return;
    kept.add(o);
    if (o instanceof protobuf.Service) {
      const only = methodsOf.get(o);
      for (const m of o.methodsArray)
        if (!only || only.has(m.name)) keepMethod(m);
    } else if (o instanceof protobuf.Type) {
      for (const f of o.fieldsArray) if (f.resolvedType) keep(f.resolvedType);
      for (const n of o.nestedArray) keep(n);
    } else if (o instanceof protobuf.Namespace) {
      for (const n of o.nestedArray) keep(n);
    }
  };
  const namespaces: protobuf.Namespace[] = [];
  for (const name of names) {
    const o = root.lookup(name);
    if (o instanceof protobuf.Method) {
      const service = o.parent as protobuf.Service;
      const only = methodsOf.get(service) ?? new Set<string>();
      methodsOf.set(service, only.add(o.name));
    } else if (
      o instanceof protobuf.Namespace &&
      !(o instanceof protobuf.Type)
    ) {
      namespaces.push(o);
    } else {
      throw new Error(`protos: no namespace or method ${name}`);
    }
  }
  for (const service of methodsOf.keys()) keep(service);
  for (const ns of namespaces) keep(ns);
  /** A kept service's JSON, with only the methods kept of it. */
  const onlyKeptMethods = (
    o: protobuf.ReflectionObject,
    node: ProtoJson,
  ): ProtoJson => {
    const only = methodsOf.get(o as protobuf.Service);
    if (!only) return node;
    const methods = node.methods as Record<string, unknown>;
    return {
      ...node,
      methods: Object.fromEntries(
        Object.entries(methods).filter(([name]) => only.has(name)),
      ),
    };
  };
  const prune = (
    node: ProtoJson,
    ns: protobuf.NamespaceBase,
  ): ProtoJson | undefined => {
    if (kept.has(ns) && ns !== root) return node;
    const nested: Record<string, ProtoJson> = {};
    for (const [name, child] of Object.entries(node.nested ?? {})) {
      const o = ns.get(name);
      if (o && kept.has(o)) nested[name] = onlyKeptMethods(o, child);
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
