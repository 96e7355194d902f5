// VBA macros in Office files. OOXML (docm/xlsm/pptm) keeps them in a zip entry named vbaProject.bin (found by the
// archive walk); legacy OLE files (doc/xls/ppt) and vbaProject.bin itself are compound files with a VBA storage.
import CFB from 'cfb';

export function isVbaProjectEntry(name: string): boolean {
  return /(^|\/)vbaProject\.bin$/i.test(name);
}

/** True when an OLE compound file holds a VBA project. A file cfb cannot parse is not judged here. */
export function oleHasMacros(content: Buffer): boolean {
  let doc;
  try {
    doc = CFB.read(content, { type: 'buffer' });
  } catch {
    return false;
  }
  return doc.FullPaths.some(
    (p) => /\/VBA\/(dir|_VBA_PROJECT)$/i.test(p) || /\/_VBA_PROJECT_CUR\//i.test(p) || /^Root Entry\/Macros\//i.test(p),
  );
}
