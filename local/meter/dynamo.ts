import type { IncomingMessage } from 'node:http';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  type Footprint,
  footprintOf,
  getReadUnits,
  type Item,
  itemBytes,
  queryReadUnits,
  type TableSchema,
  type WriteCharge,
  writeUnitsOf,
} from './dynamo-billing.ts';
import type { Meter } from './meter.ts';
import type { Upstream } from './proxy.ts';

// DynamoDB as it bills: each write on the larger of the item's before and after images, each index the
// item's keys put it in billed on its projected entry, reads on the bytes read. The images come from a
// shadow of what every write through the proxy left behind (its size and index entries, not the item),
// so metering costs the emulator no extra reads. An UpdateItem that returns nothing is sent asking for
// ALL_NEW, and the caller gets the response it asked for. Items written before the proxy started (an
// attached `--endpoint` emulator) count as new on their first write.

type Headers = IncomingMessage['headers'] & { method?: string; path?: string };
type Send = (headers: Headers, body: Buffer) => Promise<Upstream>;
type WireItem = Record<string, unknown>;

/** The JSON wire format to SDK attribute values: binary arrives base64. */
const fromWire = (value: unknown): AttributeValue => {
  const v = value as Record<string, unknown>;
  if (typeof v.B === 'string') return { B: Buffer.from(v.B, 'base64') };
  if (Array.isArray(v.BS)) return { BS: (v.BS as string[]).map((b) => Buffer.from(b, 'base64')) };
  if (Array.isArray(v.L)) return { L: (v.L as unknown[]).map(fromWire) };
  if (v.M !== undefined && v.M !== null && typeof v.M === 'object')
    return { M: itemFromWire(v.M as WireItem) };
  return v as unknown as AttributeValue;
};
const itemFromWire = (item: WireItem): Item =>
  Object.fromEntries(Object.entries(item).map(([name, value]) => [name, fromWire(value)]));

const scalar = (value: unknown): string => {
  const v = (value ?? {}) as Record<string, unknown>;
  const [type, inner] = Object.entries(v)[0] ?? ['?', ''];
  return `${type}:${String(inner)}`;
};

/** `USER#u1` + `EVENT#…` → `EVENT#`; `USER#u1` + `TOTALS` → `USER#TOTALS`: the item type, for line items. */
export const itemTypeOf = (pk: string, sk: string | undefined): string => {
  const prefix = (text: string) => (text.includes('#') ? text.slice(0, text.indexOf('#') + 1) : text);
  if (sk === undefined) return prefix(pk);
  return sk.includes('#') ? prefix(sk) : `${prefix(pk)}${sk}`;
};

const errorType = (upstream: Upstream): string => {
  if (upstream.status < 400) return '';
  try {
    return (
      String((JSON.parse(upstream.body.toString()) as { __type?: string }).__type ?? '')
        .split('#')
        .pop() ?? ''
    );
  } catch {
    return '';
  }
};

interface KeyedItem {
  table: string;
  schema: TableSchema;
  key: WireItem;
}

export class DynamoMeter {
  private readonly meter: Meter;
  private readonly send: Send;
  private readonly schemas = new Map<string, Promise<TableSchema>>();
  private readonly shadow = new Map<string, Footprint>();

  constructor(meter: Meter, send: Send) {
    this.meter = meter;
    this.send = send;
  }

  private call(target: string, input: unknown): Promise<Upstream> {
    return this.send(
      {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${target}`,
        authorization: 'AWS4-HMAC-SHA256 Credential=offline/20260101/us-east-1/dynamodb/aws4_request',
      },
      Buffer.from(JSON.stringify(input)),
    );
  }

  private schemaOf(table: string): Promise<TableSchema> {
    let schema = this.schemas.get(table);
    if (schema === undefined) {
      schema = this.call('DescribeTable', { TableName: table }).then((upstream) => {
        const { Table } = JSON.parse(upstream.body.toString()) as {
          Table?: {
            KeySchema?: { AttributeName: string; KeyType: string }[];
            GlobalSecondaryIndexes?: {
              IndexName: string;
              KeySchema: { AttributeName: string; KeyType: string }[];
              Projection?: { ProjectionType?: string; NonKeyAttributes?: string[] };
            }[];
          };
        };
        const keys = (schema: { AttributeName: string; KeyType: string }[] = []) => ({
          hashKey: schema.find((k) => k.KeyType === 'HASH')?.AttributeName ?? '',
          ...(schema.some((k) => k.KeyType === 'RANGE')
            ? { rangeKey: schema.find((k) => k.KeyType === 'RANGE')?.AttributeName }
            : {}),
        });
        return {
          ...keys(Table?.KeySchema),
          globalIndexes: (Table?.GlobalSecondaryIndexes ?? []).map((index) => ({
            name: index.IndexName,
            ...keys(index.KeySchema),
            projection: {
              type: (index.Projection?.ProjectionType ?? 'ALL') as 'ALL' | 'KEYS_ONLY' | 'INCLUDE',
              nonKeyAttributes: index.Projection?.NonKeyAttributes ?? [],
            },
          })),
        } as TableSchema;
      });
      // A table that does not exist yet is asked about again next time.
      schema.catch(() => this.schemas.delete(table));
      this.schemas.set(table, schema);
    }
    return schema;
  }

  private shadowKey({ table, schema, key }: KeyedItem): string {
    return `${table}\u0000${scalar(key[schema.hashKey])}\u0000${schema.rangeKey ? scalar(key[schema.rangeKey]) : ''}`;
  }

  private typeOf({ schema, key }: KeyedItem): string {
    const value = (name: string | undefined) => {
      if (name === undefined) return undefined;
      const v = key[name] as Record<string, unknown> | undefined;
      return v === undefined ? '' : String(Object.values(v)[0] ?? '');
    };
    return itemTypeOf(value(schema.hashKey) ?? '', value(schema.rangeKey));
  }

  private async keyed(table: string, item: WireItem): Promise<KeyedItem> {
    return { table, schema: await this.schemaOf(table), key: item };
  }

  private charge(principal: string, keyed: KeyedItem, verb: string, charge: WriteCharge): void {
    this.meter.dynamoWrite({ principal, table: keyed.table, itemType: this.typeOf(keyed), verb, charge });
  }

  /** Bills one write and moves the shadow to the item's new footprint. */
  private written(
    principal: string,
    keyed: KeyedItem,
    verb: string,
    after: Item | undefined,
    transactional = false,
  ): void {
    const shadowKey = this.shadowKey(keyed);
    const before = this.shadow.get(shadowKey);
    const afterPrint = after === undefined ? undefined : footprintOf(keyed.schema, after);
    this.charge(
      principal,
      keyed,
      verb,
      writeUnitsOf(keyed.schema, { before, after: afterPrint, transactional }),
    );
    if (afterPrint === undefined) this.shadow.delete(shadowKey);
    else this.shadow.set(shadowKey, afterPrint);
  }

  private failed(principal: string, keyed: KeyedItem, transactional = false): void {
    const before = this.shadow.get(this.shadowKey(keyed));
    this.charge(
      principal,
      keyed,
      'failed conditional writes',
      writeUnitsOf(keyed.schema, { before, after: before, conditionFailed: true, transactional }),
    );
  }

  private async currentItem(table: string, key: WireItem): Promise<Item | undefined> {
    const upstream = await this.call('GetItem', { TableName: table, Key: key, ConsistentRead: true });
    const { Item: item } = JSON.parse(upstream.body.toString()) as { Item?: WireItem };
    return item === undefined ? undefined : itemFromWire(item);
  }

  private read(
    principal: string,
    operation: string,
    table: string,
    index: string | undefined,
    units: number,
    items: number,
  ): void {
    this.meter.dynamoRead({ principal, operation, table, ...(index ? { index } : {}), units, items });
  }

  private bytesOf(keyed: KeyedItem, item: WireItem, index?: string): number {
    const print = this.shadow.get(this.shadowKey(keyed));
    if (index !== undefined) return print?.indexes[index]?.bytes ?? itemBytes(itemFromWire(item));
    return print?.bytes ?? itemBytes(itemFromWire(item));
  }

  /** What the table and its indexes hold now, as DynamoDB bills storage: entries and their bytes. */
  storage(): { items: number; bytes: number } {
    let items = 0;
    let bytes = 0;
    for (const print of this.shadow.values()) {
      items += 1;
      bytes += print.bytes;
      for (const entry of Object.values(print.indexes)) {
        items += 1;
        bytes += entry.bytes;
      }
    }
    return { items, bytes };
  }

  async handle(principal: string, operation: string, headers: Headers, body: Buffer): Promise<Upstream> {
    const input = JSON.parse(body.toString() || '{}') as Record<string, unknown>;
    const table = String(input.TableName ?? '');
    switch (operation) {
      case 'PutItem': {
        const item = input.Item as WireItem;
        const keyed = await this.keyed(table, item);
        const upstream = await this.send(headers, body);
        if (upstream.status === 200) this.written(principal, keyed, 'puts', itemFromWire(item));
        else if (errorType(upstream) === 'ConditionalCheckFailedException') this.failed(principal, keyed);
        return upstream;
      }
      case 'UpdateItem': {
        const keyed = await this.keyed(table, input.Key as WireItem);
        const asked = String(input.ReturnValues ?? 'NONE');
        const forced = asked === 'NONE';
        const upstream = await this.send(
          headers,
          forced ? Buffer.from(JSON.stringify({ ...input, ReturnValues: 'ALL_NEW' })) : body,
        );
        if (upstream.status !== 200) {
          if (errorType(upstream) === 'ConditionalCheckFailedException') this.failed(principal, keyed);
          return upstream;
        }
        const output = JSON.parse(upstream.body.toString()) as { Attributes?: WireItem };
        const after =
          asked === 'NONE' || asked === 'ALL_NEW'
            ? itemFromWire(output.Attributes ?? {})
            : await this.currentItem(table, keyed.key);
        this.written(principal, keyed, 'updates', after);
        if (!forced) return upstream;
        const { Attributes: _dropped, ...rest } = output;
        const headersOut = { ...upstream.headers };
        delete headersOut['x-amz-crc32'];
        return { ...upstream, headers: headersOut, body: Buffer.from(JSON.stringify(rest)) };
      }
      case 'DeleteItem': {
        const keyed = await this.keyed(table, input.Key as WireItem);
        const upstream = await this.send(headers, body);
        if (upstream.status === 200) this.written(principal, keyed, 'deletes', undefined);
        else if (errorType(upstream) === 'ConditionalCheckFailedException') this.failed(principal, keyed);
        return upstream;
      }
      case 'BatchWriteItem': {
        type WriteRequest = { PutRequest?: { Item: WireItem }; DeleteRequest?: { Key: WireItem } };
        const requested = input.RequestItems as Record<string, WriteRequest[]>;
        const upstream = await this.send(headers, body);
        if (upstream.status !== 200) return upstream;
        const { UnprocessedItems = {} } = JSON.parse(upstream.body.toString()) as {
          UnprocessedItems?: Record<string, WriteRequest[]>;
        };
        for (const [name, writes] of Object.entries(requested)) {
          const schema = await this.schemaOf(name);
          const unprocessed = new Set(
            (UnprocessedItems[name] ?? []).map((write) =>
              this.shadowKey({
                table: name,
                schema,
                key: (write.PutRequest?.Item ?? write.DeleteRequest?.Key) as WireItem,
              }),
            ),
          );
          for (const write of writes) {
            const keyed = {
              table: name,
              schema,
              key: (write.PutRequest?.Item ?? write.DeleteRequest?.Key) as WireItem,
            };
            if (unprocessed.has(this.shadowKey(keyed))) continue;
            if (write.PutRequest) this.written(principal, keyed, 'puts', itemFromWire(write.PutRequest.Item));
            else this.written(principal, keyed, 'deletes', undefined);
          }
        }
        return upstream;
      }
      case 'TransactWriteItems': {
        type Action = { TableName: string; Item?: WireItem; Key?: WireItem };
        const actions = (input.TransactItems as Record<string, Action>[]).map((entry) => {
          const [kind, action] = Object.entries(entry)[0] as [string, Action];
          return { kind, action };
        });
        const upstream = await this.send(headers, body);
        const keyedActions = await Promise.all(
          actions.map(async ({ kind, action }) => ({
            kind,
            keyed: await this.keyed(action.TableName, (action.Item ?? action.Key) as WireItem),
            item: action.Item,
          })),
        );
        if (upstream.status !== 200) {
          if (errorType(upstream) === 'TransactionCanceledException')
            for (const { keyed } of keyedActions) this.failed(principal, keyed, true);
          return upstream;
        }
        for (const { kind, keyed, item } of keyedActions) {
          if (kind === 'Put')
            this.written(principal, keyed, 'transactional puts', itemFromWire(item ?? {}), true);
          else if (kind === 'Delete')
            this.written(principal, keyed, 'transactional deletes', undefined, true);
          else if (kind === 'Update')
            this.written(
              principal,
              keyed,
              'transactional updates',
              await this.currentItem(keyed.table, keyed.key),
              true,
            );
          else {
            const before = this.shadow.get(this.shadowKey(keyed));
            this.charge(
              principal,
              keyed,
              'condition checks',
              writeUnitsOf(keyed.schema, { before, after: before, transactional: true }),
            );
          }
        }
        return upstream;
      }
      case 'GetItem': {
        const upstream = await this.send(headers, body);
        if (upstream.status !== 200) return upstream;
        const { Item: item } = JSON.parse(upstream.body.toString()) as { Item?: WireItem };
        const keyed = await this.keyed(table, input.Key as WireItem);
        const bytes = item === undefined ? undefined : this.bytesOf(keyed, item);
        this.read(
          principal,
          operation,
          table,
          undefined,
          getReadUnits(bytes, { consistent: input.ConsistentRead === true }),
          item ? 1 : 0,
        );
        return upstream;
      }
      case 'BatchGetItem': {
        const requested = input.RequestItems as Record<
          string,
          { ConsistentRead?: boolean; Keys?: unknown[] }
        >;
        const upstream = await this.send(headers, body);
        if (upstream.status !== 200) return upstream;
        const { Responses = {}, UnprocessedKeys = {} } = JSON.parse(upstream.body.toString()) as {
          Responses?: Record<string, WireItem[]>;
          UnprocessedKeys?: Record<string, { Keys?: unknown[] }>;
        };
        for (const [name, request] of Object.entries(requested)) {
          const consistent = request.ConsistentRead === true;
          const items = Responses[name] ?? [];
          let units = 0;
          for (const item of items)
            units += getReadUnits(this.bytesOf(await this.keyed(name, item), item), { consistent });
          // Each key is read as a GetItem: one that finds nothing still costs the minimum.
          const processed = (request.Keys ?? []).length - (UnprocessedKeys[name]?.Keys ?? []).length;
          units += Math.max(0, processed - items.length) * getReadUnits(undefined, { consistent });
          this.read(principal, operation, name, undefined, units, items.length);
        }
        return upstream;
      }
      case 'Query':
      case 'Scan': {
        const upstream = await this.send(headers, body);
        if (upstream.status !== 200) return upstream;
        const index = typeof input.IndexName === 'string' ? input.IndexName : undefined;
        const {
          Items = [],
          Count = 0,
          ScannedCount = 0,
        } = JSON.parse(upstream.body.toString()) as {
          Items?: WireItem[];
          Count?: number;
          ScannedCount?: number;
        };
        const sizes: number[] = [];
        for (const item of Items) sizes.push(this.bytesOf(await this.keyed(table, item), item, index));
        // A filter drops items after they were read: scale what was returned up to what was scanned.
        const scale = Count > 0 && ScannedCount > Count ? ScannedCount / Count : 1;
        const units = queryReadUnits(
          sizes.map((size) => size * scale),
          { consistent: input.ConsistentRead === true },
        );
        this.read(principal, operation, table, index, units, Items.length);
        return upstream;
      }
      case 'TransactGetItems': {
        const upstream = await this.send(headers, body);
        if (upstream.status !== 200) return upstream;
        const gets = (input.TransactItems as { Get: { TableName: string; Key: WireItem } }[]).map(
          (entry) => entry.Get,
        );
        const { Responses = [] } = JSON.parse(upstream.body.toString()) as {
          Responses?: { Item?: WireItem }[];
        };
        for (const [i, get] of gets.entries()) {
          const item = Responses[i]?.Item;
          const keyed = await this.keyed(get.TableName, get.Key);
          const bytes = item === undefined ? undefined : this.bytesOf(keyed, item);
          this.read(
            principal,
            operation,
            get.TableName,
            undefined,
            getReadUnits(bytes, { consistent: true, transactional: true }),
            item ? 1 : 0,
          );
        }
        return upstream;
      }
      default:
        return this.send(headers, body);
    }
  }
}
