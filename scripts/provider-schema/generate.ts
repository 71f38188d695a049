/**
 * Derives the Google provider schema table that test/deploy checks the Terraform
 * configuration against, from the generated TypeScript bindings in
 * `@cdktf/provider-google` (one directory per resource or data source, each with an
 * `index.d.ts` whose `…Config` interface lists the arguments and nested blocks and whose
 * class lists the attributes that can be read back).
 *
 * Not part of CI and not a dependency: the package is about 200 MB, so it is installed
 * once outside the repository and this script writes a compact table that is committed.
 *
 *   mkdir /tmp/pg && cd /tmp/pg && npm init -y && npm i @cdktf/provider-google
 *   node scripts/provider-schema/generate.ts /tmp/pg/node_modules/@cdktf/provider-google
 *
 * Output: test/deploy/google-provider-schema.json (formatted with the project's
 * Prettier settings so `npm run lint` accepts it). Table shape, per type:
 *   {"required": [...], "optional": [...], "computed": [...], "blocks": {name: Block}}
 * with Block = {"nesting": "single" | "list", "required"?: true, ...the same fields}.
 * "computed" lists the attributes that can only be read, not set.
 */
import {readFileSync, readdirSync, writeFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import ts from 'typescript';
import * as prettier from 'prettier';

interface Block {
  nesting?: 'single' | 'list';
  min?: 1;
  required: string[];
  optional: string[];
  computed?: string[];
  blocks: Record<string, Block>;
}

const DEFAULT_OUT = resolve(
  import.meta.dirname,
  '../../test/deploy/google-provider-schema.json',
);

/** The Terraform argument name from a property's "Docs at Terraform Registry" link. */
function terraformName(node: ts.Node, sourceText: string): string | undefined {
  const comments =
    ts.getLeadingCommentRanges(sourceText, node.getFullStart()) ?? [];
  for (const c of comments) {
    const m = /#([a-z0-9_]+) [A-Za-z0-9]+#/.exec(
      sourceText.slice(c.pos, c.end),
    );
    if (m) return m[1];
  }
  return undefined;
}

function isBlockComment(node: ts.Node, sourceText: string): boolean {
  const comments =
    ts.getLeadingCommentRanges(sourceText, node.getFullStart()) ?? [];
  return comments.some(c =>
    /\* [a-z0-9_]+ block\s*\n/.test(sourceText.slice(c.pos, c.end)),
  );
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, ch => `_${ch.toLowerCase()}`);
}

/** The interface a property's type names, and whether it is a list of them. */
function referencedInterface(
  type: ts.TypeNode | undefined,
  interfaces: Map<string, ts.InterfaceDeclaration>,
): {decl: ts.InterfaceDeclaration; list: boolean} | undefined {
  if (!type) return undefined;
  const candidates = ts.isUnionTypeNode(type) ? type.types : [type];
  for (const t of candidates) {
    if (ts.isArrayTypeNode(t) && ts.isTypeReferenceNode(t.elementType)) {
      const decl = interfaces.get(t.elementType.typeName.getText());
      if (decl) return {decl, list: true};
    }
    if (ts.isTypeReferenceNode(t)) {
      const decl = interfaces.get(t.typeName.getText());
      if (decl) return {decl, list: false};
    }
  }
  return undefined;
}

function describeInterface(
  decl: ts.InterfaceDeclaration,
  interfaces: Map<string, ts.InterfaceDeclaration>,
  sourceText: string,
  where: string,
): Block {
  const out: Block = {required: [], optional: [], blocks: {}};
  for (const member of decl.members) {
    if (!ts.isPropertySignature(member)) continue;
    const name =
      terraformName(member, sourceText) ?? snake(member.name.getText());
    const nested = referencedInterface(member.type, interfaces);
    if (nested) {
      if (!isBlockComment(member, sourceText)) {
        throw new Error(`${where}.${name}: interface type without "block" doc`);
      }
      const block = describeInterface(
        nested.decl,
        interfaces,
        sourceText,
        `${where}.${name}`,
      );
      out.blocks[name] = {
        nesting: nested.list ? 'list' : 'single',
        ...(member.questionToken ? {} : {min: 1}),
        required: block.required,
        optional: block.optional,
        blocks: block.blocks,
      };
    } else {
      (member.questionToken ? out.optional : out.required).push(name);
    }
  }
  out.required.sort();
  out.optional.sort();
  return out;
}

interface TypeEntry {
  kind: 'resource' | 'data' | 'provider';
  type: string;
  schema: Block;
}

function describeFile(file: string): TypeEntry | undefined {
  const sourceText = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(
    file,
    sourceText,
    ts.ScriptTarget.Latest,
    true,
  );
  const interfaces = new Map<string, ts.InterfaceDeclaration>();
  let cls: ts.ClassDeclaration | undefined;
  for (const st of sf.statements) {
    if (ts.isInterfaceDeclaration(st)) interfaces.set(st.name.text, st);
    if (
      ts.isClassDeclaration(st) &&
      /extends cdktf\.Terraform(Resource|DataSource|Provider)\b/.test(
        st.getText(),
      )
    ) {
      cls = st;
    }
  }
  if (!cls) return undefined;
  const heritage = cls.heritageClauses?.[0]?.types[0]?.getText() ?? '';
  const kind = heritage.endsWith('TerraformResource')
    ? 'resource'
    : heritage.endsWith('TerraformDataSource')
      ? 'data'
      : 'provider';
  let type: string | undefined;
  for (const m of cls.members) {
    if (
      ts.isPropertyDeclaration(m) &&
      m.name.getText() === 'tfResourceType' &&
      m.initializer &&
      ts.isStringLiteral(m.initializer)
    ) {
      type = m.initializer.text;
    }
  }
  const config = interfaces.get(`${cls.name!.text}Config`);
  if (!type || !config)
    throw new Error(`${file}: no tfResourceType or Config interface`);
  const schema = describeInterface(config, interfaces, sourceText, type);

  // Readable attributes: every getter of the class. Those that are not arguments or
  // blocks are computed-only; their names follow the generator's camelCase mapping.
  const settable = new Set([
    ...schema.required,
    ...schema.optional,
    ...Object.keys(schema.blocks),
  ]);
  const computed = new Set<string>();
  for (const m of cls.members) {
    if (!ts.isGetAccessorDeclaration(m)) continue;
    const getter = m.name.getText();
    if (
      getter.endsWith('Input') ||
      getter === 'fqn' ||
      getter === 'friendlyUniqueId'
    )
      continue;
    const name = snake(getter);
    if (!settable.has(name)) computed.add(name);
  }
  schema.computed = [...computed].sort();
  return {kind, type, schema};
}

async function main(): Promise<void> {
  const pkgDir = process.argv[2];
  const outFile = process.argv[3] ?? DEFAULT_OUT;
  if (!pkgDir) {
    console.error(
      'usage: node scripts/provider-schema/generate.ts PATH/TO/@cdktf/provider-google [OUT.json]',
    );
    process.exit(2);
  }
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  const libDir = join(pkgDir, 'lib');
  const table: {
    provider: string;
    provider_version: string;
    derived_from: string;
    provider_config: Block;
    resource: Record<string, Block>;
    data: Record<string, Block>;
  } = {
    provider: pkg.cdktf.provider.name,
    provider_version: pkg.cdktf.provider.version,
    derived_from: `${pkg.name}@${pkg.version}`,
    provider_config: {required: [], optional: [], blocks: {}},
    resource: {},
    data: {},
  };
  const entries: TypeEntry[] = [];
  for (const dir of readdirSync(libDir, {withFileTypes: true})) {
    if (!dir.isDirectory()) continue;
    const entry = describeFile(join(libDir, dir.name, 'index.d.ts'));
    if (entry) entries.push(entry);
  }
  entries.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  for (const e of entries) {
    if (e.kind === 'provider') table.provider_config = e.schema;
    else table[e.kind][e.type] = e.schema;
  }
  const options = (await prettier.resolveConfig(outFile)) ?? {};
  const text = await prettier.format(JSON.stringify(table), {
    ...options,
    parser: 'json',
  });
  writeFileSync(outFile, text);
  console.log(
    `${outFile}: ${Object.keys(table.resource).length} resources, ` +
      `${Object.keys(table.data).length} data sources, ${text.length} bytes`,
  );
}

await main();
