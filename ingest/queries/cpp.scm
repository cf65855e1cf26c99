; Outline and tags for C++ (captures as in python.scm). Of two patterns for the same name with the
; same start, the earlier one wins; a template<...> line belongs to the signature.

(function_definition
  declarator: [
    (function_declarator declarator: [(identifier) (field_identifier) (destructor_name) (operator_name)] @name)
    (function_declarator declarator: (qualified_identifier name: (_) @name))
    (pointer_declarator declarator: (function_declarator declarator: [(identifier) (field_identifier)] @name))
    (reference_declarator (function_declarator declarator: [(identifier) (field_identifier)] @name))
  ]
  body: (compound_statement) @body) @definition.function
(template_declaration
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (field_identifier) (operator_name)] @name)
      (function_declarator declarator: (qualified_identifier name: (_) @name))
    ]
    body: (compound_statement) @body)) @definition.function
(field_declaration
  declarator: (function_declarator declarator: [(field_identifier) (destructor_name) (operator_name)] @name)) @definition.method
(declaration
  declarator: (function_declarator declarator: [(identifier) (destructor_name) (operator_name)] @name)) @definition.function

(class_specifier name: (type_identifier) @name body: (field_declaration_list) @body) @definition.class
(struct_specifier name: (type_identifier) @name body: (field_declaration_list) @body) @definition.struct
(union_specifier name: (type_identifier) @name body: (field_declaration_list) @body) @definition.union
(template_declaration
  [
    (class_specifier name: (type_identifier) @name body: (field_declaration_list) @body)
    (struct_specifier name: (type_identifier) @name body: (field_declaration_list) @body)
  ]) @definition.class
(enum_specifier name: (type_identifier) @name body: (enumerator_list) @body) @definition.enum
(namespace_definition name: (namespace_identifier) @name body: (declaration_list) @body) @definition.namespace
(type_definition declarator: (type_identifier) @name) @definition.type
(alias_declaration name: (type_identifier) @name) @definition.type
(preproc_function_def name: (identifier) @name) @definition.macro

(call_expression function: (identifier) @reference)
(call_expression function: (field_expression field: (field_identifier) @reference))
(call_expression function: (qualified_identifier name: (identifier) @reference))
(type_identifier) @reference
