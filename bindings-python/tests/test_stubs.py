"""The type stubs name what the module holds, and the classes read well in
help()."""

import ast
import inspect
import pathlib

import shmlane
from shmlane import _shmlane

STUBS = pathlib.Path(shmlane.__file__).with_name("_shmlane.pyi")


def stub_tree():
    return ast.parse(STUBS.read_text())


def test_the_package_ships_its_stubs_and_py_typed():
    assert STUBS.exists()
    assert STUBS.with_name("py.typed").exists()


def test_the_stubs_name_every_public_name_of_the_module_and_no_other():
    stubbed = {
        node.name
        for node in stub_tree().body
        if isinstance(node, (ast.ClassDef, ast.FunctionDef))
    }
    public = {name for name in dir(_shmlane) if not name.startswith("_")}
    assert stubbed == public
    assert set(shmlane.__all__) == public


def test_the_stubs_name_every_method_of_each_class():
    for node in stub_tree().body:
        if not isinstance(node, ast.ClassDef) or node.name.endswith("Error"):
            continue
        stubbed = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
        actual = {
            name
            for name in dir(getattr(shmlane, node.name))
            if not name.startswith("_") or name in ("__enter__", "__exit__", "__len__", "__bytes__", "__iter__", "__next__")
        }
        assert stubbed - {"__buffer__"} == actual, node.name


def test_functions_and_classes_have_docstrings():
    for name in shmlane.__all__:
        item = getattr(shmlane, name)
        assert inspect.getdoc(item), name
    for cls in (shmlane.Ring, shmlane.Producer, shmlane.Consumer, shmlane.Message, shmlane.Slot):
        for member_name, member in vars(cls).items():
            if not member_name.startswith("_"):
                assert inspect.getdoc(member), f"{cls.__name__}.{member_name}"


def test_signatures_show_in_help():
    assert str(inspect.signature(shmlane.Consumer.recv)) == "(self, /, timeout=None)"
    assert "capacity" in str(inspect.signature(shmlane.create))
