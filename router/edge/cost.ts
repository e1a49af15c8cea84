/**
 * What an operation costs, from the schema alone (nothing is executed): the work a query asks of the
 * subgraphs, so that a request for ten thousand objects is refused before planning, whatever its depth.
 *
 * - Each field weighs 1 when it selects an object (interface, union), 0 when it is a scalar or an enum;
 *   `weights` overrides per `Type.field` (a costly resolver, a mutation that books a trip).
 * - A field with a size argument (`first`, `last`, `limit`) multiplies by its value: a literal, a
 *   variable's value, else the argument's default. A list field multiplies its subtree (itself
 *   included) by it; a connection (an object with a size argument) counts once and hands the size to its
 *   list children (`edges`), while `pageInfo` counts once.
 * - A list field without a size argument multiplies by `listSizes[Type.field]`, else `defaultListSize`.
 * - A field resolved by another subgraph than its parent's (an entity fetch through the gateway) adds
 *   `entityHopWeight`, given the supergraph's field owners (fieldOwnersFromSupergraph).
 * - Introspection (`__schema`, `__type`) weighs `introspectionWeight`, its selection not counted.
 *
 * Cheap per request: everything but the variables is compiled once per (schema, document, operation) by
 * the caller's cache (`compileCost`); `evaluateCost` then walks the compiled tree, or returns the
 * constant when no size comes from a variable. Named fragments are compiled once per subgraph context
 * and evaluated once per size they inherit, so fragments that spread each other twice, level after
 * level, cost linear time, not exponential.
 */
import {
  getNamedType,
  getNullableType,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  valueFromASTUntyped,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

export interface CostOptions {
  /** Weight per `Type.field` (schema coordinate), over the defaults (1 for objects, 0 for scalars and enums). */
  readonly weights?: Readonly<Record<string, number>>;
  /** Assumed length of a list field without a size argument, per `Type.field`. */
  readonly listSizes?: Readonly<Record<string, number>>;
  /** Assumed length of any other list field without a size argument. Default 10. */
  readonly defaultListSize?: number;
  /** Arguments that bound a list's length. Default first, last, limit. */
  readonly sizeArguments?: readonly string[];
  /** Added to a field resolved by another subgraph than its parent (an entity fetch). Default 2. */
  readonly entityHopWeight?: number;
  /** Weight of `__schema` and `__type`, whatever they select. Default 1. */
  readonly introspectionWeight?: number;
}

/** Which subgraphs resolve each `Type.field` of the API schema, as bit masks (one bit per subgraph). */
export interface FieldOwners {
  readonly byCoordinate: ReadonlyMap<string, number>;
  /** Subgraph names in bit order. */
  readonly graphs: readonly string[];
}

/** A size: a constant, or a variable's value (then `fallback` when the variable is absent or null). */
type Size = number | { readonly variable: string; readonly fallback: number };

interface FieldCost {
  readonly kind: 'field';
  readonly weight: number;
  /** list: multiplies itself and its children; connection: hands `size` to its list children; inherit: a list child of a connection. */
  readonly mode: 'single' | 'list' | 'connection' | 'inherit';
  /** For list and connection: the size; for inherit: the size when the parent hands none. */
  readonly size: Size;
  readonly children: readonly CostNode[];
}

interface FragmentCost {
  readonly kind: 'fragment';
  readonly nodes: readonly CostNode[];
}

type CostNode = FieldCost | FragmentCost;

/** An operation's cost with everything but the variables worked out. */
export interface CompiledCost {
  /** The cost when it depends on no variable; undefined when some size is a variable's. */
  readonly constant: number | undefined;
  readonly nodes: readonly CostNode[];
}

const DEFAULTS = { defaultListSize: 10, sizeArguments: ['first', 'last', 'limit'], entityHopWeight: 2, introspectionWeight: 1 } as const;

/**
 * Compiles an operation's cost. The document must be valid against the schema (the pipeline validates
 * before the operation stage): unknown fields count 0 and fragment cycles are not looked for.
 */
export function compileCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, options: CostOptions = {}, owners?: FieldOwners): CompiledCost {
  const weights = options.weights ?? {};
  const listSizes = options.listSizes ?? {};
  const defaultListSize = options.defaultListSize ?? DEFAULTS.defaultListSize;
  const sizeArguments = options.sizeArguments ?? DEFAULTS.sizeArguments;
  const hopWeight = options.entityHopWeight ?? DEFAULTS.entityHopWeight;
  const introspectionWeight = options.introspectionWeight ?? DEFAULTS.introspectionWeight;

  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  /** Compiled fragments, per name and subgraph context. */
  const compiledFragments = new Map<string, FragmentCost>();
  let variable = false;

  const selectionCost = (type: GraphQLCompositeType, selectionSet: SelectionSetNode, graphs: number): CostNode[] => {
    const nodes: CostNode[] = [];
    /** Subgraphs this selection set already fetches from: one entity fetch per subgraph, whatever it selects. */
    const hops = new Set<number>();
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const node = fieldCost(type, selection, graphs, hops);
        if (node) nodes.push(node);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
        if (condition && isCompositeType(condition)) nodes.push(...selectionCost(condition, selection.selectionSet, graphs));
      } else {
        const key = `${selection.name.value}\0${graphs}`;
        let compiled = compiledFragments.get(key);
        if (!compiled) {
          const fragment = fragments.get(selection.name.value);
          const condition = fragment && schema.getType(fragment.typeCondition.name.value);
          compiled = { kind: 'fragment', nodes: [] };
          compiledFragments.set(key, compiled); // before compiling: a cycle (invalid) ends here instead of looping
          if (fragment && condition && isCompositeType(condition)) (compiled.nodes as CostNode[]).push(...selectionCost(condition, fragment.selectionSet, graphs));
        }
        if (compiled.nodes.length > 0) nodes.push(compiled);
      }
    }
    return nodes;
  };

  const fieldCost = (parent: GraphQLCompositeType, node: FieldNode, graphs: number, hops: Set<number>): FieldCost | undefined => {
    const name = node.name.value;
    if (name === '__typename') return undefined;
    if (name === '__schema' || name === '__type') return { kind: 'field', weight: introspectionWeight, mode: 'single', size: 1, children: [] };
    const field: GraphQLField<unknown, unknown> | undefined = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
    if (!field) return undefined;
    const coordinate = `${parent.name}.${name}`;
    const named = getNamedType(field.type);
    let weight = weights[coordinate] ?? (isCompositeType(named) ? 1 : 0);

    // The subgraph this field is resolved in: a field no subgraph of the parent's resolves is an entity fetch.
    let fieldGraphs = graphs;
    const owned = owners?.byCoordinate.get(coordinate);
    if (owned !== undefined) {
      if (graphs !== 0 && (owned & graphs) === 0) {
        if (!hops.has(owned)) weight += hopWeight;
        hops.add(owned);
        fieldGraphs = owned;
      } else fieldGraphs = graphs === 0 ? owned : owned & graphs;
    }

    const isList = isListType(getNullableType(field.type));
    const sizeArgument = field.args.find((argument) => sizeArguments.includes(argument.name));
    let mode: FieldCost['mode'] = 'single';
    let size: Size = 1;
    if (sizeArgument) {
      mode = isList ? 'list' : 'connection';
      const fallback = typeof sizeArgument.defaultValue === 'number' ? sizeArgument.defaultValue : (listSizes[coordinate] ?? defaultListSize);
      const given = node.arguments?.find((argument) => argument.name.value === sizeArgument.name)?.value;
      if (given?.kind === Kind.VARIABLE) {
        size = { variable: given.name.value, fallback };
        variable = true;
      } else if (given) size = sizeOf(valueFromASTUntyped(given), fallback);
      else size = fallback;
    } else if (isList) {
      mode = 'inherit';
      size = listSizes[coordinate] ?? defaultListSize;
    }
    const children = node.selectionSet && isCompositeType(named) ? selectionCost(named, node.selectionSet, fieldGraphs) : [];
    return { kind: 'field', weight, mode, size, children };
  };

  const root = schema.getRootType(operation.operation);
  const nodes = root ? selectionCost(root, operation.selectionSet, 0) : [];
  return { nodes, constant: variable ? undefined : evaluate(nodes, undefined, {}, new Map()) };
}

/** The operation's cost for these variables. */
export function evaluateCost(compiled: CompiledCost, variables: Readonly<Record<string, unknown>>): number {
  return compiled.constant ?? evaluate(compiled.nodes, undefined, variables, new Map());
}

type Memo = Map<FragmentCost, Map<number | undefined, number>>;

function evaluate(nodes: readonly CostNode[], handed: number | undefined, variables: Readonly<Record<string, unknown>>, memo: Memo): number {
  let total = 0;
  for (const node of nodes) {
    if (node.kind === 'fragment') {
      let bySize = memo.get(node);
      if (!bySize) memo.set(node, (bySize = new Map()));
      let cost = bySize.get(handed);
      if (cost === undefined) {
        cost = evaluate(node.nodes, handed, variables, memo);
        bySize.set(handed, cost);
      }
      total += cost;
      continue;
    }
    switch (node.mode) {
      case 'single':
        total += node.weight + evaluate(node.children, undefined, variables, memo);
        break;
      case 'list':
        total += resolveSize(node.size, variables) * (node.weight + evaluate(node.children, undefined, variables, memo));
        break;
      case 'connection':
        total += node.weight + evaluate(node.children, resolveSize(node.size, variables), variables, memo);
        break;
      case 'inherit':
        total += (handed ?? resolveSize(node.size, variables)) * (node.weight + evaluate(node.children, undefined, variables, memo));
        break;
    }
  }
  return total;
}

function resolveSize(size: Size, variables: Readonly<Record<string, unknown>>): number {
  return typeof size === 'number' ? size : sizeOf(variables[size.variable], size.fallback);
}

/** A size argument's value: a non-negative number (a larger one is refused by the budget, not here), else the fallback. */
function sizeOf(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.max(0, value) : fallback;
}

/**
 * Which subgraphs resolve each field, from the supergraph schema's join directives: a field's
 * `@join__field(graph:)` graphs (those not `external`), else its type's `@join__type(graph:)` graphs.
 * Coordinates are the API schema's (`Type.field`); graphs are the join__Graph enum values (TRIPS, ...).
 */
export function fieldOwnersFromSupergraph(supergraph: GraphQLSchema): FieldOwners {
  const graphs: string[] = [];
  const bit = (graph: string) => {
    let index = graphs.indexOf(graph);
    if (index < 0) index = graphs.push(graph) - 1;
    return index < 31 ? 1 << index : 0;
  };
  const byCoordinate = new Map<string, number>();
  for (const type of Object.values(supergraph.getTypeMap())) {
    if (!(isObjectType(type) || isInterfaceType(type)) || type.name.startsWith('__') || type.name.startsWith('join__') || type.name.startsWith('link__')) continue;
    let typeGraphs = 0;
    for (const directive of type.astNode?.directives ?? []) {
      if (directive.name.value !== 'join__type') continue;
      const graph = directive.arguments?.find((argument) => argument.name.value === 'graph')?.value;
      if (graph?.kind === Kind.ENUM) typeGraphs |= bit(graph.value);
    }
    for (const field of Object.values(type.getFields())) {
      let fieldGraphs = 0;
      let joined = false;
      for (const directive of field.astNode?.directives ?? []) {
        if (directive.name.value !== 'join__field') continue;
        joined = true;
        const graph = directive.arguments?.find((argument) => argument.name.value === 'graph')?.value;
        const external = directive.arguments?.find((argument) => argument.name.value === 'external')?.value;
        if (graph?.kind === Kind.ENUM && !(external?.kind === Kind.BOOLEAN && external.value)) fieldGraphs |= bit(graph.value);
      }
      const owners = joined && fieldGraphs !== 0 ? fieldGraphs : typeGraphs;
      if (owners !== 0) byCoordinate.set(`${type.name}.${field.name}`, owners);
    }
  }
  return { byCoordinate, graphs };
}
