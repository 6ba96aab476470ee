/** The pieces of bench/RESULTS.md: sections of prose and tables, rendered as Markdown. */

export interface Table {
  headers: string[];
  rows: string[][];
}

export interface Section {
  title: string;
  /** Paragraphs before the tables: what was measured and how. */
  intro: string[];
  tables: Table[];
  /** Paragraphs after the tables. */
  notes?: string[];
}

/** A Markdown table; `|` inside a cell is escaped. Numbers are right-aligned when the whole column is numeric. */
export function renderTable({ headers, rows }: Table): string {
  for (const row of rows) {
    if (row.length !== headers.length) throw new Error(`a row has ${row.length} cells for ${headers.length} headers: ${row.join(' | ')}`);
  }
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const numeric = headers.map(
    (_, column) => rows.length > 0 && rows.every((row) => /^[-+]?[\d.,]+[×%]?$|^[-+]?\$[\d.,]+$/.test(row[column]!.trim())),
  );
  return [
    `| ${headers.map(cell).join(' | ')} |`,
    `|${numeric.map((right) => (right ? '---:' : '---')).join('|')}|`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** A section as Markdown, its title at heading `level`. */
export function renderSection(section: Section, level = 2): string {
  const parts = [`${'#'.repeat(level)} ${section.title}`, ...section.intro, ...section.tables.map(renderTable), ...(section.notes ?? [])];
  return parts.join('\n\n');
}

/** `value` with `digits` decimals and thousands separators. */
export function fixed(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** `value` rounded, with thousands separators. */
export function integer(value: number): string {
  return fixed(value, 0);
}

/** A ratio such as `1.07×`. */
export function times(value: number, digits = 2): string {
  return Number.isFinite(value) ? `${fixed(value, digits)}×` : 'n/a';
}

/** A signed difference such as `+0.042`. */
export function signed(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return 'n/a';
  return `${value >= 0 ? '+' : '-'}${fixed(Math.abs(value), digits)}`;
}

/** A price such as `$6.35`. */
export function dollars(value: number, digits = 2): string {
  return Number.isFinite(value) ? `$${fixed(value, digits)}` : 'n/a';
}

/** A size in KiB with one decimal. */
export function kib(bytes: number): string {
  return `${fixed(bytes / 1024, 1)} KiB`;
}

/** `met` or `NOT met`. */
export function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}
